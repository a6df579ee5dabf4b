"""Wang and Isola 2020, align_uniform/__init__.py of github.com/SsnL/align_uniform (commit e256d476ddbe04873dc15a8f893d4443d1f81671), verbatim; MIT, LICENSE beside it."""

import torch


def align_loss(x, y, alpha=2):
    return (x - y).norm(p=2, dim=1).pow(alpha).mean()


def uniform_loss(x, t=2):
    return torch.pdist(x, p=2).pow(2).mul(-t).exp().mean().log()


__all__ = ['align_loss', 'uniform_loss']

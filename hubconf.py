"""torch.hub entry point of ACM-Net models exported by `acmnet export`.

    model = torch.hub.load("<this repository>", "acmnet", weights="<export folder>", source="local")
    descriptors = model(images)  # ImageNet-normalised (B, 3, H, W) -> (B, D), unit norm

The module follows VPR-methods-evaluation's contract (its main.py feeds ImageNet-normalised images and
reads (B, D) descriptors), so the model can join that tool's `vpr_models.get_model` list.
"""

dependencies = ["torch", "timm", "safetensors"]


def acmnet(weights: str, descriptor: str | None = None):
    """The exported model in `weights` (an `acmnet export` folder) as an `ImageNetDescriber`, eval mode, CPU.

    descriptor: `projector` (the paper's normalize(P_A(E(x)))) or `encoder` (normalize(E(x))); None: the
    one config.json names.
    """
    from acmnet.export import ImageNetDescriber, load_exported

    model, config = load_exported(weights)
    return ImageNetDescriber(model, descriptor or config["descriptor"]).eval()

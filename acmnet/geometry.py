"""Rotations and rigid poses in pure numpy: quaternions, 3x3 rotations and 4x4 pose matrices.

Conventions:

* A pose is **world-to-camera**: ``x_cam = R @ x_world + t``. ``R`` is (3, 3), ``t`` (3,) in metres.
  The camera centre (position in the world) is ``C = -R.T @ t``; conversely ``t = -R @ C``.
  As a 4x4 homogeneous matrix, ``T_cw = [[R, t], [0, 0, 0, 1]]``; its inverse ``T_wc = [[R.T, C], [0, 1]]``
  is the camera-to-world matrix.
* A rotation is stored as a unit quaternion **w first**, ``(qw, qx, qy, qz)`` (Hamilton convention,
  the one of COLMAP, NVM and visuallocalization.net), made sign-canonical (``qw >= 0``) when written.
* Angles are in degrees at the API surface.

Used by the RobotCar file readers (`acmnet.data.robotcar_files`) and the pose accuracy
(`acmnet.evaluate.poses`).
"""

from __future__ import annotations

import numpy as np


def quat_to_rotmat(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from quaternions (..., 4), w first.

    The quaternion is normalised first (any non-zero scale, either sign, gives the same rotation).
    """
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1] != 4:
        raise ValueError(f"quaternions need 4 components (w, x, y, z) in the last axis, got shape {q.shape}")
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(~np.isfinite(norm)) or np.any(norm == 0):
        raise ValueError("quaternion with zero or non-finite norm")
    w, x, y, z = np.moveaxis(q / norm, -1, 0)
    rot = np.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )
    return rot.reshape(q.shape[:-1] + (3, 3))


def rotmat_to_quat(rot: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4), w first and ``w >= 0``, from rotation matrices (..., 3, 3).

    Uses the symmetric 4x4 matrix of Bar-Itzhack (2000): its top eigenvector is the quaternion of
    the nearest rotation, so it is stable for every angle and tolerant of rounding in the input.
    """
    rot = np.asarray(rot, dtype=np.float64)
    if rot.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices need shape (..., 3, 3), got {rot.shape}")
    flat = rot.reshape(-1, 3, 3)
    r = lambda i, j: flat[:, i, j]
    k = np.zeros((len(flat), 4, 4))
    # Order of the eigenvector: (x, y, z, w).
    k[:, 0, 0] = r(0, 0) - r(1, 1) - r(2, 2)
    k[:, 1, 1] = r(1, 1) - r(0, 0) - r(2, 2)
    k[:, 2, 2] = r(2, 2) - r(0, 0) - r(1, 1)
    k[:, 3, 3] = r(0, 0) + r(1, 1) + r(2, 2)
    k[:, 0, 1] = k[:, 1, 0] = r(0, 1) + r(1, 0)
    k[:, 0, 2] = k[:, 2, 0] = r(0, 2) + r(2, 0)
    k[:, 1, 2] = k[:, 2, 1] = r(1, 2) + r(2, 1)
    k[:, 0, 3] = k[:, 3, 0] = r(2, 1) - r(1, 2)
    k[:, 1, 3] = k[:, 3, 1] = r(0, 2) - r(2, 0)
    k[:, 2, 3] = k[:, 3, 2] = r(1, 0) - r(0, 1)
    _, vectors = np.linalg.eigh(k / 3.0)
    xyzw = vectors[:, :, -1]
    quat = xyzw[:, [3, 0, 1, 2]]
    return canonical_quat(quat).reshape(rot.shape[:-2] + (4,))


def canonical_quat(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) with ``w >= 0`` (q and -q are the same rotation)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def pose_matrix(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 matrices (..., 4, 4) ``[[R(q), t], [0, 1]]`` from quaternions (..., 4) and translations (..., 3)."""
    rot = quat_to_rotmat(q)
    t = np.asarray(t, dtype=np.float64)
    out = np.zeros(rot.shape[:-2] + (4, 4))
    out[..., :3, :3] = rot
    out[..., :3, 3] = t
    out[..., 3, 3] = 1.0
    return out


def matrix_to_pose(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(quaternion (..., 4) with w >= 0, translation (..., 3)) of 4x4 rigid matrices (..., 4, 4)."""
    mat = np.asarray(mat, dtype=np.float64)
    return rotmat_to_quat(mat[..., :3, :3]), mat[..., :3, 3].copy()


def invert(mat: np.ndarray) -> np.ndarray:
    """Inverse of rigid 4x4 matrices (..., 4, 4): ``[[R.T, -R.T t], [0, 1]]`` (world-to-camera <-> camera-to-world)."""
    mat = np.asarray(mat, dtype=np.float64)
    rot_t = np.swapaxes(mat[..., :3, :3], -1, -2)
    out = np.zeros_like(mat)
    out[..., :3, :3] = rot_t
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rot_t, mat[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 4x4 matrices (..., 4, 4): apply ``b`` first, then ``a`` (e.g. T_ac = T_ab @ T_bc)."""
    return np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)


def centre_from_translation(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Camera centres ``C = -R.T t`` (..., 3) of world-to-camera poses (q (..., 4), t (..., 3))."""
    rot = quat_to_rotmat(q)
    return -np.einsum("...ji,...j->...i", rot, np.asarray(t, dtype=np.float64))


def translation_from_centre(q: np.ndarray, c: np.ndarray) -> np.ndarray:
    """World-to-camera translations ``t = -R C`` (..., 3) from quaternions (..., 4) and centres (..., 3)."""
    rot = quat_to_rotmat(q)
    return -np.einsum("...ij,...j->...i", rot, np.asarray(c, dtype=np.float64))


def rotation_angle_deg(rot: np.ndarray) -> np.ndarray:
    """Rotation angle in degrees (...,) of rotation matrices (..., 3, 3), in [0, 180].

    ``atan2(|axis part|, (trace - 1) / 2)``: accurate also for tiny angles, where ``acos`` is not.
    """
    rot = np.asarray(rot, dtype=np.float64)
    cos = (np.trace(rot, axis1=-2, axis2=-1) - 1.0) / 2.0
    axis = np.stack(
        [rot[..., 2, 1] - rot[..., 1, 2], rot[..., 0, 2] - rot[..., 2, 0], rot[..., 1, 0] - rot[..., 0, 1]], axis=-1
    )
    sin = np.linalg.norm(axis, axis=-1) / 2.0
    return np.degrees(np.arctan2(sin, cos))

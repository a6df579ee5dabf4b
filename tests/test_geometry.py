import numpy as np
import pytest

from acmnet import geometry as G

RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def _random_quats(n, seed=0):
    return G.canonical_quat(np.random.default_rng(seed).normal(size=(n, 4)))


def test_quaternion_matrix_round_trip_and_canonical_sign():
    q = _random_quats(500)
    rot = G.quat_to_rotmat(q)
    assert np.allclose(rot @ np.swapaxes(rot, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(rot), 1.0)
    back = G.rotmat_to_quat(rot)
    assert np.allclose(back, q, atol=1e-12)
    assert (back[:, 0] >= 0).all()
    assert np.allclose(G.rotmat_to_quat(G.quat_to_rotmat(-q)), q, atol=1e-12)  # -q is the same rotation


def test_known_rotation_90_degrees_about_z():
    q = np.array([np.sqrt(0.5), 0, 0, np.sqrt(0.5)])
    assert np.allclose(G.quat_to_rotmat(q), RZ90)
    assert np.allclose(G.rotmat_to_quat(RZ90), q)
    assert np.allclose(G.quat_to_rotmat(q) @ [1, 0, 0], [0, 1, 0])  # Hamilton: x -> y
    assert G.rotation_angle_deg(RZ90) == pytest.approx(90.0)
    assert G.rotation_angle_deg(np.eye(3)) == 0.0


def test_small_angles_are_accurate():
    eps = 1e-7
    q = np.array([np.cos(eps / 2), np.sin(eps / 2), 0, 0])
    assert G.rotation_angle_deg(G.quat_to_rotmat(q)) == pytest.approx(np.degrees(eps), rel=1e-6)


def test_inversion_composition_and_centre():
    q, t = _random_quats(20, 1), np.random.default_rng(2).normal(size=(20, 3)) * 100
    mats = G.pose_matrix(q, t)
    assert np.allclose(G.compose(mats, G.invert(mats)), np.eye(4), atol=1e-9)
    centres = G.centre_from_translation(q, t)
    assert np.allclose(G.invert(mats)[:, :3, 3], centres)
    assert np.allclose(G.translation_from_centre(q, centres), t)
    # the centre maps to the camera origin
    assert np.allclose(np.einsum("nij,nj->ni", mats[:, :3, :3], centres) + t, 0, atol=1e-9)
    q2, t2 = G.matrix_to_pose(mats)
    assert np.allclose(q2, q) and np.allclose(t2, t)

"""Muon: Newton-Schulz orthogonalisation against a float64 reference, and the update rule (6.5)."""
import copy
import math

import pytest
import torch

from pufferlib.muon import NS_COEFFICIENTS, Muon, newton_schulz


def reference_orthogonalise(G):
    """float64: SVD, push each normalised singular value through the five NS polynomials, rebuild.
    X <- aX + b(XX^T)X + c(XX^T)^2 X acts on a singular value s as s <- a s + b s^3 + c s^5."""
    G = G.double()
    U, s, Vh = torch.linalg.svd(G, full_matrices=False)
    s = s / G.norm()
    for a, b, c in NS_COEFFICIENTS:
        s = a * s + b * s ** 3 + c * s ** 5
    return U @ torch.diag(s) @ Vh


@pytest.mark.parametrize('shape', [(3, 16), (64, 64), (192, 64), (64, 118), (1, 5), (6, 128)])
def test_newton_schulz_matches_float64_reference(shape):
    torch.manual_seed(0)
    G = torch.randn(*shape)
    X = newton_schulz(G)
    assert X.dtype == G.dtype and X.shape == G.shape
    torch.testing.assert_close(X.double(), reference_orthogonalise(G), rtol=0, atol=2e-4)


def test_singular_values_near_one():
    torch.manual_seed(1)
    # A badly conditioned matrix: singular values spanning 3 orders of magnitude.
    U, _ = torch.linalg.qr(torch.randn(48, 48))
    V, _ = torch.linalg.qr(torch.randn(96, 96))
    s = torch.logspace(0, -3, 48)
    G = U @ torch.diag(s) @ V[:48]
    sv = torch.linalg.svdvals(newton_schulz(G).double())
    # The polynomial's band: everything that is not tiny lands in about [0.68, 1.13].
    big = s / s.norm() > 1e-2
    assert sv[big].min() > 0.6 and sv.max() < 1.2
    # Singular vectors are kept: X is close to U V^T in direction.
    polar = (U @ V[:48]).double()
    cos = (newton_schulz(G).double() * polar).sum() / (polar.norm() * newton_schulz(G).double().norm())
    assert cos > 0.9


def test_tall_matrix_is_transposed():
    torch.manual_seed(2)
    G = torch.randn(100, 20)
    torch.testing.assert_close(newton_schulz(G), newton_schulz(G.T).T)


def test_muon_step_matches_formula():
    torch.manual_seed(3)
    W = torch.randn(12, 4)            # tall: scale sqrt(12 / 4)
    b = torch.randn(5)                # 1-D: momentum SGD
    p, q = torch.nn.Parameter(W.clone()), torch.nn.Parameter(b.clone())
    opt = Muon([p, q], lr=0.1, momentum=0.9)
    M_w, M_b = torch.zeros_like(W), torch.zeros_like(b)
    for step in range(3):
        gw, gb = torch.randn(12, 4), torch.randn(5)
        p.grad, q.grad = gw.clone(), gb.clone()
        opt.step()
        M_w = 0.9 * M_w + gw
        M_b = 0.9 * M_b + gb
        W = W - 0.1 * math.sqrt(3) * reference_orthogonalise(gw + 0.9 * M_w).float()
        b = b - 0.1 * (gb + 0.9 * M_b)
        torch.testing.assert_close(p.data, W, rtol=0, atol=1e-4)
        torch.testing.assert_close(q.data, b, rtol=1e-6, atol=1e-6)


def test_wide_matrix_scale_is_one_and_logstd_row_is_normalised():
    p = torch.nn.Parameter(torch.zeros(1, 3))   # the continuous logstd is 1 x A: orthogonalised
    opt = Muon([p], lr=1.0, momentum=0.0)
    p.grad = torch.tensor([[3.0, 0.0, 4.0]])
    opt.step()
    # A 1xC row has one singular value; NS maps it to the polynomial's value of 1.
    s = 1.0
    for a, b_, c in NS_COEFFICIENTS:
        s = a * s + b_ * s ** 3 + c * s ** 5
    torch.testing.assert_close(p.data, -s * torch.tensor([[0.6, 0.0, 0.8]]), rtol=1e-4, atol=1e-5)


def test_state_dict_round_trip():
    torch.manual_seed(4)
    p = torch.nn.Parameter(torch.randn(4, 4))
    opt = Muon([p], lr=0.05, momentum=0.95)
    p.grad = torch.randn(4, 4)
    opt.step()
    p2 = torch.nn.Parameter(p.data.clone())
    opt2 = Muon([p2], lr=0.05, momentum=0.95)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))   # as if read back from a file
    g = torch.randn(4, 4)
    p.grad, p2.grad = g.clone(), g.clone()
    opt.step(), opt2.step()
    assert torch.equal(p.data, p2.data)

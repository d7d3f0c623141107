"""Muon for the torch backend (reference 6.5): Nesterov momentum, then the update of every matrix
parameter is orthogonalised by five Newton-Schulz iterations.

Per step, for each parameter with gradient G (already averaged across ranks and globally clipped by
torch.nn.utils.clip_grad_norm_ outside this class):

    M <- beta1 * M + G;  G <- G + beta1 * M                       Nesterov momentum
    matrices (viewed as R x C, R = first dim): U = NS5(G), scale sqrt(max(1, R / C))
    1-D tensors: U = G, scale 1                                     plain momentum SGD
    W <- W - lr * scale * U                                         weight decay fixed at 0

beta2 and eps exist in the config (and are swept) but Muon does not use them.

lr may be a float or a 0-d tensor on the parameters' device: the torch trainer passes a tensor it
refills each epoch, so a step captured in a CUDA graph follows the annealed learning rate.
"""
import math

import torch

# Per-iteration (a, b, c) of X <- a X + (b S + c S^2) X with S = X X^T: each pushes the singular
# values of X towards 1 a little more gently than the last (reference 6.5).
NS_COEFFICIENTS = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)


def newton_schulz(G):
    """Approximately orthogonalise a 2-D matrix: same singular vectors, singular values near 1.

    Works on the wide orientation (rows <= cols) so the Gram matrix is the small one; a tall matrix
    is transposed in and back out.
    """
    X = G.float()
    tall = X.shape[0] > X.shape[1]
    if tall:
        X = X.T
    X = X / X.norm().clamp_min(1e-7)
    for a, b, c in NS_COEFFICIENTS:
        S = X @ X.T
        B = torch.addmm(S, S, S, beta=b, alpha=c)   # b S + c S^2
        X = torch.addmm(X, B, X, beta=a)            # a X + B X
    if tall:
        X = X.T
    return X.to(G.dtype)


class Muon(torch.optim.Optimizer):
    def __init__(self, params, lr=0.015, momentum=0.95, weight_decay=0.0):
        if lr < 0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group['lr'], group['momentum'], group['weight_decay']
            for p in group['params']:
                if p.grad is None:
                    continue
                state = self.state[p]
                if 'momentum_buffer' not in state:
                    state['momentum_buffer'] = torch.zeros_like(p)
                M = state['momentum_buffer']
                M.mul_(mu).add_(p.grad)
                G = p.grad.add(M, alpha=mu)
                if p.ndim >= 2:
                    rows, cols = p.shape[0], p.numel() // p.shape[0]
                    U = newton_schulz(G.reshape(rows, cols)).view_as(p)
                    scale = math.sqrt(max(1.0, rows / cols))
                else:
                    U, scale = G, 1.0
                if wd:
                    p.mul_(1 - lr * wd)
                if torch.is_tensor(lr):
                    p.addcmul_(U, lr, value=-scale)
                else:
                    p.add_(U, alpha=-lr * scale)
        return loss

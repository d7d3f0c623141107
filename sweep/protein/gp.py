"""Exact Gaussian-process regression in float64, hyperparameters fitted by marginal likelihood.

Model (inputs are normalised to [-1, 1]^d, targets to about [0, 1]):

    y = mean + f(x) + eps,   f ~ GP(0, k),   eps ~ N(0, s2)
    k(x, x') = a * <x, x'>  +  b * m(r),   r = |(x - x') / ell|      linear + Matern 3/2, ARD
    m(r) = (1 + sqrt(3) r) exp(-sqrt(3) r)
    log s2 ~ N(log 0.01, 0.5^2)                                       noise prior (from HEBO)

theta = [log a, log b, log ell_1..ell_d, log s2, mean] minimises
    nll(theta) = 1/2 rho' K^-1 rho + 1/2 log|K| + n/2 log(2 pi) - log prior(s2),   rho = y - mean
with L-BFGS-B on analytic gradients. With alpha = K^-1 rho and W = alpha alpha' - K^-1,
d nll / d theta_j = -1/2 sum(W * dK/d theta_j); every term is a few n x n array ops or one
n x n x d matrix product (the d lengthscale gradients share one product G @ Z, see _nll).
One evaluation costs a Cholesky and an inverse: n^3 flops, ~10 ms at n = 750 on 2 cores.
Refits start from the previous theta and take a few iterations.
"""
import math

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from scipy.linalg.lapack import dpotrf, dpotri
from scipy.optimize import minimize

SQRT3 = math.sqrt(3.0)
JITTER = 1e-8
LOG_2PI = math.log(2.0 * math.pi)


def _distances(Z1, Z2, same=False):
    """Euclidean distances between rows, through one matrix product."""
    sq1 = np.einsum("ij,ij->i", Z1, Z1)
    sq2 = sq1 if same else np.einsum("ij,ij->i", Z2, Z2)
    r2 = Z1 @ Z2.T
    r2 *= -2.0
    r2 += sq1[:, None]
    r2 += sq2[None, :]
    np.maximum(r2, 0.0, out=r2)
    if same:
        np.fill_diagonal(r2, 0.0)
    return np.sqrt(r2, out=r2)


class GP:
    """Exact GP regressor. fit(X, y), then predict(Xs) -> mean (and std)."""

    def __init__(self, noise_prior=(math.log(0.01), 0.5), fit_iters=50, refit_iters=8):
        self.noise_prior = noise_prior
        self.fit_iters = fit_iters
        self.refit_iters = refit_iters
        self.theta = None

    # theta layout: [log a, log b, log ell (d), log s2, mean]
    @staticmethod
    def _bounds(d):
        return ([(math.log(1e-6), math.log(10.0)), (math.log(1e-4), math.log(10.0))]
                + [(math.log(0.03), math.log(50.0))] * d
                + [(math.log(1e-6), math.log(1.0)), (None, None)])

    @staticmethod
    def _initial(X, y):
        d = X.shape[1]
        return np.concatenate([[math.log(0.05), math.log(max(float(np.var(y)), 1e-3))],
                               np.zeros(d), [math.log(0.01), float(np.mean(y))]])

    def _nll(self, theta, X, y, XX):
        n, d = X.shape
        a, b = math.exp(theta[0]), math.exp(theta[1])
        ell = np.exp(theta[2:2 + d])
        s2, mean = math.exp(theta[2 + d]), theta[3 + d]
        Z = X / ell
        r = _distances(Z, Z, same=True)
        e = np.exp(-SQRT3 * r)
        M = (1.0 + SQRT3 * r) * e
        K = a * XX + b * M
        K.flat[::n + 1] += s2 + JITTER
        L, info = dpotrf(K, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            return 1e25, np.zeros_like(theta)
        rho = y - mean
        alpha = cho_solve((L, True), rho)
        log_det = 2.0 * np.sum(np.log(np.diag(L)))
        Kinv, info = dpotri(L, lower=1)
        if info != 0:
            return 1e25, np.zeros_like(theta)
        Kinv = np.tril(Kinv)
        Kinv += np.tril(Kinv, -1).T
        W = np.outer(alpha, alpha)
        W -= Kinv
        grad = np.empty_like(theta)
        grad[0] = -0.5 * a * np.sum(W * XX)
        grad[1] = -0.5 * b * np.sum(W * M)
        # d K / d log ell_j = 3 b e (Z_ij - Z_kj)^2; with G = W * 3 b e (symmetric),
        # sum_ik G_ik (Z_ij - Z_kj)^2 = 2 sum_i Z_ij^2 (G 1)_i - 2 sum_i Z_ij (G Z)_ij.
        G = W * e
        G *= 3.0 * b
        grad[2:2 + d] = np.einsum("ij,ij->j", Z, G @ Z) - (Z * Z).T @ G.sum(1)
        grad[2 + d] = -0.5 * s2 * np.trace(W)
        grad[3 + d] = -np.sum(alpha)
        nll = 0.5 * rho @ alpha + 0.5 * log_det + 0.5 * n * LOG_2PI
        mu, sigma = self.noise_prior
        z = (theta[2 + d] - mu) / sigma
        nll += 0.5 * z * z
        grad[2 + d] += z / sigma
        return nll, grad

    def fit(self, X, y, iters=None, hyper_rows=None):
        """Fit hyperparameters (warm-started from the last fit of the same dimension) and factorise.

        hyper_rows: fit the hyperparameters on these rows only (a subsample keeps large fits fast);
        the posterior still conditions on every row.
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[0] == 0:
            raise ValueError(f"GP.fit needs X (n, d) and y (n,), got {X.shape} and {y.shape}")
        d = X.shape[1]
        warm = self.theta is not None and len(self.theta) == d + 4
        theta0 = self.theta.copy() if warm else self._initial(X, y)
        if iters is None:
            iters = self.refit_iters if warm else self.fit_iters
        XX = X @ X.T
        if iters > 0:
            Xh, yh, XXh = X, y, XX
            if hyper_rows is not None and len(hyper_rows) < len(X):
                Xh, yh = X[hyper_rows], y[hyper_rows]
                XXh = XX[np.ix_(hyper_rows, hyper_rows)]
            res = minimize(self._nll, theta0, args=(Xh, yh, XXh), jac=True, method="L-BFGS-B",
                           bounds=self._bounds(d), options={"maxiter": iters, "maxfun": 2 * iters + 5})
            if np.all(np.isfinite(res.x)) and res.fun < 1e24:
                theta0 = res.x
        self.theta = theta0
        self._factorise(X, y, XX)
        return self

    def _factorise(self, X, y, XX):
        d = X.shape[1]
        t = self.theta
        self._a, self._b = math.exp(t[0]), math.exp(t[1])
        self._ell = np.exp(t[2:2 + d])
        self._s2, self._mean = math.exp(t[2 + d]), t[3 + d]
        self._X = X
        self._Z = X / self._ell
        r = _distances(self._Z, self._Z, same=True)
        M = (1.0 + SQRT3 * r) * np.exp(-SQRT3 * r)
        K = self._a * XX + self._b * M
        jitter = JITTER
        for _ in range(8):
            K2 = K.copy()
            K2.flat[::len(X) + 1] += self._s2 + jitter
            L, info = dpotrf(K2, lower=1, clean=1, overwrite_a=1)
            if info == 0:
                break
            jitter *= 100.0
        else:
            raise np.linalg.LinAlgError("GP kernel matrix is not positive definite")
        self._L = L
        self._alpha = cho_solve((L, True), y - self._mean)

    def _cross(self, Xs):
        Zs = Xs / self._ell
        r = _distances(Zs, self._Z)
        Ks = (1.0 + SQRT3 * r) * np.exp(-SQRT3 * r)
        Ks *= self._b
        Ks += self._a * (Xs @ self._X.T)
        return Ks

    def predict(self, Xs, return_std=False, batch=4096):
        """Posterior mean (and standard deviation of f, without noise) at the rows of Xs."""
        Xs = np.atleast_2d(np.asarray(Xs, dtype=np.float64))
        mean = np.empty(len(Xs))
        std = np.empty(len(Xs)) if return_std else None
        for start in range(0, len(Xs), batch):
            chunk = Xs[start:start + batch]
            Ks = self._cross(chunk)
            mean[start:start + batch] = self._mean + Ks @ self._alpha
            if return_std:
                v = solve_triangular(self._L, Ks.T, lower=True, check_finite=False)
                prior = self._a * np.einsum("ij,ij->i", chunk, chunk) + self._b
                std[start:start + batch] = np.sqrt(np.maximum(prior - np.einsum("ij,ij->j", v, v), 1e-12))
        return (mean, std) if return_std else mean

    @property
    def hyperparameters(self):
        """The fitted values, by name (for logging and tests)."""
        d = len(self.theta) - 4
        t = self.theta
        return {"linear_variance": math.exp(t[0]), "matern_variance": math.exp(t[1]),
                "lengthscales": np.exp(t[2:2 + d]), "noise": math.exp(t[2 + d]), "mean": t[3 + d]}

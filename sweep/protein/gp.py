"""Exact Gaussian-process regression in float64, hyperparameters fitted by marginal likelihood.

Model (inputs are normalised to [-1, 1]^d, targets to about [0, 1]):

    y = mean + f(x) + eps,   f ~ GP(0, k),   eps ~ N(0, s2)
    k(x, x') = sum_j a_j x_j x'_j  +  b m(r),   r = |(x - x') / ell|    linear + Matern 3/2, both ARD
    m(r) = (1 + sqrt(3) r) exp(-sqrt(3) r)
    log s2 ~ N(log 0.01, 0.5^2)                                       noise prior (from HEBO)
    log ell_j ~ N(0, 1)                                               weak lengthscale prior

The linear part has one weight per input (the reference's has one for all): log-cost is close to
linear in a log-scaled cost parameter and in little else, and a per-input weight lets the cost model
extrapolate that trend to dearer runs without implying trends in the other inputs.

theta = [log a_1..a_d, log b, log ell_1..ell_d, log s2, mean] minimises
    nll(theta) = 1/2 rho' K^-1 rho + 1/2 log|K| + n/2 log(2 pi) - log priors,   rho = y - mean
with L-BFGS-B on analytic gradients. (Without the lengthscale prior a fit on few points sometimes
lands on a tiny lengthscale that makes each value of a discrete parameter look unrelated to its
neighbours, and the search never leaves the values it has tried.) With alpha = K^-1 rho and
W = alpha alpha' - K^-1, d nll / d theta_j = -1/2 sum(W * dK/d theta_j); the d linear-weight
gradients share one product W @ X and the d lengthscale gradients one product G @ Z (see _nll), so
an evaluation costs a Cholesky, an inverse (n^3) and a few n x n x d products.
Refits start from the previous theta and take a few iterations.
"""
import math

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from scipy.linalg.lapack import dpotrf, dpotri
from scipy.optimize import minimize

from .blas import blas_threads

SQRT3 = math.sqrt(3.0)
JITTER = 1e-8
LOG_2PI = math.log(2.0 * math.pi)


def _distances(Z1, Z2, same=False):
    """Euclidean distances between rows, through one matrix product (in place, few passes)."""
    sq1 = np.einsum("ij,ij->i", Z1, Z1)
    sq2 = sq1 if same else np.einsum("ij,ij->i", Z2, Z2)
    r2 = (-2.0 * Z1) @ Z2.T
    r2 += sq1[:, None]
    r2 += sq2[None, :]
    np.maximum(r2, 0.0, out=r2)
    if same:
        np.fill_diagonal(r2, 0.0)
    return np.sqrt(r2, out=r2)


def _matern(r):
    """(1 + sqrt(3) r) exp(-sqrt(3) r), overwriting r."""
    r *= SQRT3
    e = np.exp(-r)
    r += 1.0
    r *= e
    return r


class GP:
    """Exact GP regressor. fit(X, y), then predict(Xs) -> mean (and std)."""

    def __init__(self, noise_prior=(math.log(0.01), 0.5), fit_iters=50, refit_iters=4, cold_obs=128,
                 blas_threads=1):
        self.noise_prior = noise_prior
        self.blas_threads = blas_threads  # see blas.py
        self.cold_obs = cold_obs
        self.fit_iters = fit_iters
        self.refit_iters = refit_iters
        self.theta = None

    # theta layout: [log a (d), log b, log ell (d), log s2, mean]
    @staticmethod
    def _bounds(d):
        return ([(math.log(1e-6), math.log(10.0))] * d + [(math.log(1e-4), math.log(10.0))]
                + [(math.log(0.05), math.log(50.0))] * d
                + [(math.log(1e-6), math.log(1.0)), (None, None)])

    @staticmethod
    def _initial(X, y):
        d = X.shape[1]
        return np.concatenate([np.full(d, math.log(0.05)), [math.log(max(float(np.var(y)), 1e-3))],
                               np.zeros(d), [math.log(0.01), float(np.mean(y))]])

    @staticmethod
    def _unpack(theta, d):
        return (np.exp(theta[:d]), math.exp(theta[d]), np.exp(theta[d + 1:2 * d + 1]),
                math.exp(theta[2 * d + 1]), theta[2 * d + 2])

    def _nll(self, theta, X, y):
        n, d = X.shape
        a, b, ell, s2, mean = self._unpack(theta, d)
        Z = X / ell
        r = _distances(Z, Z, same=True)
        e = np.exp(-SQRT3 * r)
        M = (1.0 + SQRT3 * r) * e
        K = (X * a) @ X.T
        K += b * M
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
        # d K / d log a_j = a_j X_j X_j'  ->  sum(W * dK) = a_j (X' W X)_jj
        grad[:d] = -0.5 * a * np.einsum("ij,ij->j", X, W @ X)
        grad[d] = -0.5 * b * np.sum(W * M)
        # d K / d log ell_j = 3 b e (Z_ij - Z_kj)^2; with G = W * 3 b e (symmetric),
        # sum_ik G_ik (Z_ij - Z_kj)^2 = 2 sum_i Z_ij^2 (G 1)_i - 2 sum_i Z_ij (G Z)_ij.
        G = W * e
        G *= 3.0 * b
        grad[d + 1:2 * d + 1] = np.einsum("ij,ij->j", Z, G @ Z) - (Z * Z).T @ G.sum(1)
        grad[2 * d + 1] = -0.5 * s2 * np.trace(W)
        grad[2 * d + 2] = -np.sum(alpha)
        nll = 0.5 * rho @ alpha + 0.5 * log_det + 0.5 * n * LOG_2PI
        mu, sigma = self.noise_prior
        z = (theta[2 * d + 1] - mu) / sigma
        nll += 0.5 * z * z
        grad[2 * d + 1] += z / sigma
        log_ell = theta[d + 1:2 * d + 1]
        nll += 0.5 * float(log_ell @ log_ell)
        grad[d + 1:2 * d + 1] += log_ell
        return nll, grad

    def fit(self, X, y, iters=None, hyper_rows=None):
        """Fit hyperparameters (warm-started from the last fit of the same dimension) and factorise.

        hyper_rows: fit the hyperparameters on these rows only (a subsample keeps large fits fast);
        the posterior still conditions on every row.
        """
        with blas_threads(self.blas_threads):
            return self._fit(X, y, iters, hyper_rows)

    def _fit(self, X, y, iters, hyper_rows):
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[0] == 0:
            raise ValueError(f"GP.fit needs X (n, d) and y (n,), got {X.shape} and {y.shape}")
        d = X.shape[1]
        warm = self.theta is not None and len(self.theta) == 2 * d + 3
        theta0 = self.theta.copy() if warm else self._initial(X, y)
        if iters is None:
            iters = self.refit_iters if warm else self.fit_iters
        if iters > 0:
            Xh, yh = X, y
            if hyper_rows is not None and len(hyper_rows) < len(X):
                Xh, yh = X[hyper_rows], y[hyper_rows]
            if not warm and len(Xh) > self.cold_obs:
                # A cold fit runs its many iterations on an evenly spread subset, then refines on all.
                sub = np.linspace(0, len(Xh) - 1, self.cold_obs).astype(int)
                theta0 = self._minimize(theta0, Xh[sub], yh[sub], iters)
                iters = self.refit_iters
            theta0 = self._minimize(theta0, Xh, yh, iters)
        self.theta = theta0
        self._factorise(X, y)
        return self

    def _minimize(self, theta0, X, y, iters):
        res = minimize(self._nll, theta0, args=(X, y), jac=True, method="L-BFGS-B",
                       bounds=self._bounds(X.shape[1]), options={"maxiter": iters, "maxfun": 2 * iters + 5})
        return res.x if np.all(np.isfinite(res.x)) and res.fun < 1e24 else theta0

    def _factorise(self, X, y):
        self._a, self._b, self._ell, self._s2, self._mean = self._unpack(self.theta, X.shape[1])
        self._X = X
        self._Z = X / self._ell
        K = _matern(_distances(self._Z, self._Z, same=True))
        K *= self._b
        K += (X * self._a) @ X.T
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

    def predict(self, Xs, return_std=False, batch=1024):
        """Posterior mean (and standard deviation of f, without noise) at the rows of Xs."""
        with blas_threads(self.blas_threads):
            return self._predict(Xs, return_std, batch)

    def _predict(self, Xs, return_std, batch):
        Xs = np.atleast_2d(np.asarray(Xs, dtype=np.float64))
        # The linear part of the mean is a dot product: (Xs a) X' alpha = Xs (a * X' alpha).
        linear = self._a * (self._X.T @ self._alpha)
        b_alpha = self._b * self._alpha
        mean = self._mean + Xs @ linear
        std = np.empty(len(Xs)) if return_std else None
        for start in range(0, len(Xs), batch):  # batches small enough to stay in cache
            chunk = Xs[start:start + batch]
            M = _matern(_distances(chunk / self._ell, self._Z))
            mean[start:start + batch] += M @ b_alpha
            if return_std:
                M *= self._b
                M += (chunk * self._a) @ self._X.T
                v = solve_triangular(self._L, M.T, lower=True, check_finite=False)
                prior = np.einsum("ij,ij->i", chunk * self._a, chunk) + self._b
                std[start:start + batch] = np.sqrt(np.maximum(prior - np.einsum("ij,ij->j", v, v), 1e-12))
        return (mean, std) if return_std else mean

    @property
    def hyperparameters(self):
        """The fitted values, by name (for logging and tests)."""
        a, b, ell, s2, mean = self._unpack(self.theta, (len(self.theta) - 3) // 2)
        return {"linear_weights": a, "matern_variance": b, "lengthscales": ell, "noise": s2, "mean": mean}

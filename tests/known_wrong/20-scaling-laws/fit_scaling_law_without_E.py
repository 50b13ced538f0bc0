"""L(N, D) fitted without the irreducible loss E, as a sum of two pure power laws: the fit bends the exponents to mimic the floor and extrapolates badly. Keep E: log L_hat = logaddexp(a - alpha log N, b - beta log D, e)."""
import numpy as np
import scipy.optimize


def fit_scaling_law(n_params, n_tokens, loss, init=(1.0, 100.0, 100.0, 0.3, 0.3)):
    log_n, log_d, log_loss = np.log(n_params), np.log(n_tokens), np.log(loss)

    def residuals(theta):
        a, b, alpha, beta = theta
        log_predicted = np.logaddexp(a - alpha * log_n, b - beta * log_d)  # BUG: no e term
        return log_predicted - log_loss

    E0, A0, B0, alpha0, beta0 = init
    theta0 = np.array([np.log(A0), np.log(B0), alpha0, beta0], dtype=np.float64)
    result = scipy.optimize.least_squares(residuals, theta0, xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=5000)
    a, b, alpha, beta = result.x
    return {"E": 0.0, "A": float(np.exp(a)), "B": float(np.exp(b)), "alpha": float(alpha), "beta": float(beta)}

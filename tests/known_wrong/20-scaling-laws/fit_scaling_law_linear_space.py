"""L(N, D) fitted by least squares on L instead of log L: large losses weigh more and the constants move away from the log-space fit Chinchilla uses. Take residuals log L_hat - log L."""
import numpy as np
import scipy.optimize


def fit_scaling_law(n_params, n_tokens, loss, init=(1.0, 100.0, 100.0, 0.3, 0.3)):
    log_n, log_d = np.log(n_params), np.log(n_tokens)

    def residuals(theta):
        e, a, b, alpha, beta = theta
        log_predicted = np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e)
        return np.exp(log_predicted) - loss  # BUG: errors of L, not of log L

    E0, A0, B0, alpha0, beta0 = init
    theta0 = np.array([np.log(E0), np.log(A0), np.log(B0), alpha0, beta0], dtype=np.float64)
    result = scipy.optimize.least_squares(residuals, theta0, xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=5000)
    e, a, b, alpha, beta = result.x
    return {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)), "alpha": float(alpha), "beta": float(beta)}

"""A power law fitted by least squares on y itself instead of log y: the largest values decide the fit and the exponent is off. Fit the straight line log y = alpha log x_c - alpha log x (np.polyfit on the logarithms)."""
import numpy as np
import scipy.optimize


def fit_power_law(x, y):
    slope, intercept = np.polyfit(np.log(x), np.log(y), deg=1)   # a good start ...
    start = [intercept / -slope, -slope]

    def model(x, log_x_c, alpha):
        return np.exp(alpha * (log_x_c - np.log(x)))

    (log_x_c, alpha), _ = scipy.optimize.curve_fit(model, x, y, p0=start, maxfev=20000)  # BUG: squared errors of y, not of log y
    return float(np.exp(log_x_c)), float(alpha)

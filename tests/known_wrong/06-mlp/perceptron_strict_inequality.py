"""The perceptron updates only when y * (x @ w + b) < 0, so a point exactly on the boundary is not a mistake: from w = 0, b = 0 every score is 0 and the perceptron never makes its first update. Count y * score <= 0 as a mistake."""
import numpy as np


def perceptron_train(X, y, max_epochs=100):
    X = np.asarray(X, dtype=np.float64)
    w, b = np.zeros(X.shape[1]), 0.0
    mistakes = []
    for _ in range(max_epochs):
        count = 0
        for x_i, y_i in zip(X, y):
            if y_i * (x_i @ w + b) < 0:  # BUG: should be <= 0
                w = w + y_i * x_i
                b = b + float(y_i)
                count += 1
        mistakes.append(count)
        if count == 0:
            break
    return w, b, mistakes

"""The sigmoid's derivative written as sigmoid(z) itself: twice too large at 0 and not vanishing for large z. The derivative is sigmoid(z) * (1 - sigmoid(z)), which peaks at 1/4."""
import numpy as np


def sigmoid_grad(z):
    return sigmoid(z)  # BUG: the derivative is s * (1 - s)

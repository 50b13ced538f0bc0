"""ROUGE-L with the longest common substring (contiguous) instead of the longest common subsequence. On a mismatch take max(L[i-1][j], L[i][j-1]) instead of restarting at 0."""


def lcs_length(a, b):
    best = 0
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
                best = max(best, table[i][j])
            # BUG: a mismatch leaves 0, so only contiguous runs count
    return best

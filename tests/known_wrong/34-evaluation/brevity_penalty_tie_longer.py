"""On a tie between two reference lengths equally close to the hypothesis, the longer one is taken; sacrebleu (and mteval) take the shorter. Break ties towards the shorter reference."""


def closest_reference_length(hypothesis_length, reference_lengths):
    return min(reference_lengths, key=lambda length: (abs(length - hypothesis_length), -length))  # BUG: ties go to the longer

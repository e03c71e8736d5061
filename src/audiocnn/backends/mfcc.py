"""The MFCC baseline features (:mod:`audiocnn.features.mfcc`), under the back-ends that use them."""

from audiocnn.features.mfcc import MFCC, dct_matrix, delta, masked_mfcc_stats, mfcc_stats

__all__ = ["MFCC", "delta", "dct_matrix", "masked_mfcc_stats", "mfcc_stats"]

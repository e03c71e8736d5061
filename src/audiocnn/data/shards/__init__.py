"""Packed datasets: sharded, checksummed storage at the model's sample rate, and the readers
that stream it (tar) or read it at random (HDF5) for training on more data than fits in memory.

    from audiocnn.data import load_manifest
    from audiocnn.data.shards import PackOptions, ShardStream, load_index, pack
    index = pack(load_manifest("meta.csv"), "shards/", PackOptions(sample_rate=16000), num_workers=4)
    stream = ShardStream(load_index("shards/"), clip_seconds=10, batch_size=32, shuffle_buffer=512)

See docs/scaling.md.
"""

from audiocnn.data.shards.balance import EpochPosition, RankSampler, balanced_repeats, balanced_weights
from audiocnn.data.shards.hdf5 import HDF5ShardWriter, PackedClipDataset, describe_hdf5_folder, float_to_int16
from audiocnn.data.shards.index import FORMATS, INDEX_NAME, PackedIndex, ShardInfo, is_packed, load_index, sha256_file, verify_shards
from audiocnn.data.shards.packer import PackOptions, pack
from audiocnn.data.shards.sources import ManifestSource, SyntheticSource
from audiocnn.data.shards.stream import ShardStream, split_shards
from audiocnn.data.shards.tar import CODECS, TarShardWriter, decode_audio, encode_audio, iter_tar_samples

__all__ = [
    "CODECS",
    "EpochPosition",
    "FORMATS",
    "HDF5ShardWriter",
    "INDEX_NAME",
    "ManifestSource",
    "PackOptions",
    "PackedClipDataset",
    "PackedIndex",
    "RankSampler",
    "ShardInfo",
    "ShardStream",
    "SyntheticSource",
    "TarShardWriter",
    "balanced_repeats",
    "balanced_weights",
    "decode_audio",
    "describe_hdf5_folder",
    "encode_audio",
    "float_to_int16",
    "is_packed",
    "iter_tar_samples",
    "load_index",
    "pack",
    "sha256_file",
    "split_shards",
    "verify_shards",
]

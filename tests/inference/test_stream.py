import numpy as np

from audiocnn.inference.stream import stream_windows

from inference_helpers import SR


def test_worker_stream_equals_in_process_stream_as_numpy(wavs, tmp_path):
    missing = tmp_path / "missing.wav"
    files = [*wavs, missing]
    ref = list(stream_windows(files, SR, SR, num_workers=0))
    got = list(stream_windows(files, SR, SR, num_workers=1, batch_size=4))
    assert [(i.index, i.start, i.end, i.error is None) for i in got] == [(i.index, i.start, i.end, i.error is None) for i in ref]
    assert got[-1].error is not None and got[-1].index == 3
    for a, b in zip(got, ref):
        if b.samples is None:
            assert a.samples is None
            continue
        # tensors from the worker come back as numpy arrays (views of the shared memory)
        assert isinstance(a.samples, np.ndarray) and a.samples.dtype == np.float32
        np.testing.assert_array_equal(a.samples, b.samples)

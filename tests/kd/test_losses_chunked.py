"""The chunked loss (kd_loss / divergence with chunk_size) against the plain path (chunk_size=None,
all positions in one chunk): values and gradients, every kind, dense and top-k teachers, ignored
labels and masks."""

import json
import weakref

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from distill_core.errors import InputError
from distill_core.kd.losses import KINDS, divergence, kd_loss, top_k

B, L, V = 3, 10, 64
CHUNK = 7  # does not divide B * L = 30: the last chunk is shorter


def _inputs(seed, shape=(B, L, V)):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(shape, generator=g) * 2
    t = torch.randn(shape, generator=g) * 3
    y = torch.randint(0, shape[-1], shape[:-1], generator=g)
    y[torch.rand(shape[:-1], generator=g) < 0.3] = -100
    y[0, 0] = 1
    return s, t, y


def _teacher(t, k):
    return t if k is None else top_k(t, k)


def _loss_and_grad(s, teacher, y, chunk_size, **kw):
    x = s.clone().requires_grad_(True)
    total, parts = kd_loss(x, teacher, y, chunk_size=chunk_size, **kw)
    total.backward()
    return total.detach(), parts["kd"].detach(), parts["ce"].detach(), x.grad


def _assert_same(plain, chunked):
    for a, b in zip(plain, chunked):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("k", [None, 5, V])  # None: dense teacher
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("alpha, temperature", [(0.5, 1.0), (0.3, 2.5), (1.0, 2.0)])
def test_chunked_equals_plain(kind, k, alpha, temperature):
    s, t, y = _inputs(0)
    kw = dict(alpha=alpha, temperature=temperature, kind=kind, beta=0.3)
    plain = _loss_and_grad(s, _teacher(t, k), y, None, **kw)
    chunked = _loss_and_grad(s, _teacher(t, k), y, CHUNK, **kw)
    _assert_same(plain, chunked)
    assert plain[1] > 1e-2 and plain[3].abs().max() > 0  # not 0 = 0
    assert (chunked[3][y == -100] == 0).all()  # ignored positions get no gradient


@pytest.mark.parametrize("k", [None, 5])
@pytest.mark.parametrize("chunk", [1, 2, CHUNK, B * L - 1])
def test_chunk_sizes_and_no_labels(k, chunk):
    s, t, _ = _inputs(1)
    kw = dict(alpha=1.0, temperature=1.5)
    _assert_same(_loss_and_grad(s, _teacher(t, k), None, None, **kw),
                 _loss_and_grad(s, _teacher(t, k), None, chunk, **kw))


def test_cross_entropy_only():
    s, t, y = _inputs(2)
    plain = _loss_and_grad(s, None, y, None, alpha=0.0, temperature=2.0)
    chunked = _loss_and_grad(s, None, y, CHUNK, alpha=0.0, temperature=2.0)
    _assert_same(plain, chunked)
    total, parts = kd_loss(s, t, y, alpha=0.0, temperature=2.0, chunk_size=CHUNK)
    assert torch.equal(total, parts["ce"]) and parts["kd"].item() == 0.0
    torch.testing.assert_close(total, F.cross_entropy(s.reshape(-1, V), y.reshape(-1)))


@pytest.mark.parametrize("k", [None, 5])
@pytest.mark.parametrize("kind", ["forward_kl", "jsd"])
def test_strided_and_bf16_student(k, kind):
    # the training loop passes logits[:, :-1] (not viewable as rows), under bf16 autocast
    g = torch.Generator().manual_seed(3)
    full = torch.randn(B, L + 1, V, generator=g)
    t, y = torch.randn(B, L, V, generator=g), torch.randint(0, V, (B, L), generator=g)
    kw = dict(alpha=0.5, temperature=2.0, kind=kind, beta=0.4)
    for dtype in (torch.float32, torch.bfloat16):
        results = []
        for chunk in (None, CHUNK):
            x = full.to(dtype).detach().requires_grad_(True)
            total, parts = kd_loss(x[:, :-1], _teacher(t.to(dtype), k), y, chunk_size=chunk, **kw)
            total.backward()
            assert x.grad.dtype == dtype and total.dtype == torch.float32
            results.append((total.detach(), parts["kd"].detach(), x.grad.float()))
        _assert_same(*results)


@pytest.mark.parametrize("k", [None, 5])
@pytest.mark.parametrize("kind", KINDS)
def test_divergence_chunked_with_mask(kind, k):
    s, t, y = _inputs(4)
    mask = y != -100
    grads, values = [], []
    for chunk in (None, CHUNK):
        x = s.clone().requires_grad_(True)
        d = divergence(x, _teacher(t, k), kind=kind, temperature=1.7, beta=0.3, mask=mask,
                       chunk_size=chunk)
        d.backward()
        values.append(d.detach())
        grads.append(x.grad)
    _assert_same(values, values[::-1])
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-8)
    with torch.no_grad():  # evaluation: no gradient is computed or kept
        d = divergence(s, _teacher(t, k), kind=kind, temperature=1.7, beta=0.3, mask=mask,
                       chunk_size=CHUNK)
    torch.testing.assert_close(d, values[0], rtol=1e-5, atol=1e-7)
    assert not d.requires_grad


@pytest.mark.parametrize("k", [None, 5])
def test_gradients_through_the_parts_and_twice(k):
    # backward from kd or ce alone, or a second backward, recomputes chunk by chunk
    s, t, y = _inputs(5)
    kw = dict(alpha=0.4, temperature=2.0)
    grads = {}
    for chunk in (None, CHUNK):
        x = s.clone().requires_grad_(True)
        total, parts = kd_loss(x, _teacher(t, k), y, chunk_size=chunk, **kw)
        g_total = torch.autograd.grad(total, x, retain_graph=True)[0]
        g_again = torch.autograd.grad(3.0 * total, x, retain_graph=True)[0]
        g_kd = torch.autograd.grad(parts["kd"], x, retain_graph=True)[0]
        g_mix = torch.autograd.grad(total + 2.0 * parts["ce"], x)[0]
        grads[chunk] = (g_total, g_again, g_kd, g_mix)
        torch.testing.assert_close(g_again, 3.0 * g_total)
    _assert_same(grads[None], grads[CHUNK])


@pytest.mark.parametrize("k", [None, 5])
def test_teacher_released_after_backward(k):
    # the loop keeps `total` until the next step, when the next teacher logits already exist:
    # the graph must not keep this step's teacher (400 MB at a real vocabulary) alive
    s, t, y = _inputs(12)
    teacher = _teacher(t.clone(), k)
    ref = weakref.ref(teacher if k is None else teacher.logp)
    x = s.clone().requires_grad_(True)
    total, _ = kd_loss(x, teacher, y, alpha=0.5, temperature=2.0, chunk_size=CHUNK)
    total.backward()
    del teacher
    assert ref() is None and total.grad_fn is not None


def test_nothing_kept():
    s, t, _ = _inputs(6)
    y = torch.full((B, L), -100)
    x = s.clone().requires_grad_(True)
    total, parts = kd_loss(x, t, y, alpha=0.5, temperature=2.0, chunk_size=CHUNK)
    assert total.item() == 0.0 and parts["kd"].item() == 0.0 and parts["ce"].item() == 0.0
    total.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_teacher_with_grad_and_wider_teacher():
    s, t, y = _inputs(7)
    # a teacher with grad takes the plain path and gets its gradient
    tg = t.clone().requires_grad_(True)
    total, _ = kd_loss(s, tg, y, alpha=0.5, temperature=2.0, chunk_size=CHUNK)
    total.backward()
    assert tg.grad is not None and tg.grad.abs().max() > 0
    # a float64 teacher (no fused path): chunked still equals plain, in float64
    kw = dict(alpha=0.5, temperature=2.0)
    plain = _loss_and_grad(s, t.double(), y, None, **kw)
    chunked = _loss_and_grad(s, t.double(), y, CHUNK, **kw)
    assert chunked[0].dtype == torch.float64
    _assert_same(plain, chunked)


def test_default_is_the_plain_path_at_the_builtin_size():
    # the built-in pair's batch (16 x 127 x 3,392, 27.6 MB of float32 logits) is one chunk:
    # "auto" must give the plain path's numbers bit for bit
    s, t, y = _inputs(8, shape=(16, 127, 3392))
    for teacher in (t, top_k(t, 64)):
        plain = _loss_and_grad(s, teacher, y, None, alpha=0.5, temperature=2.0)
        auto = _loss_and_grad(s, teacher, y[:, :], "auto", alpha=0.5, temperature=2.0)
        default = s.clone().requires_grad_(True)
        total, _ = kd_loss(default, teacher, y, alpha=0.5, temperature=2.0)
        total.backward()
        assert all(torch.equal(a, b) for a, b in zip(plain, auto))
        assert torch.equal(total, plain[0]) and torch.equal(default.grad, plain[3])


def test_auto_chunks_a_large_vocabulary():
    # 300 positions x 49,152 tokens (59 MB) is two chunks under "auto": equal to plain
    s, t, y = _inputs(9, shape=(1, 300, 49_152))
    plain = _loss_and_grad(s, t, y, None, alpha=0.5, temperature=2.0)
    auto = _loss_and_grad(s, t, y, "auto", alpha=0.5, temperature=2.0)
    _assert_same(plain, auto)


@pytest.mark.parametrize("chunk_size", [0, -3, 2.5, True, "all"])
def test_bad_chunk_size(chunk_size):
    s, t, y = _inputs(10)
    with pytest.raises(InputError, match="chunk_size"):
        kd_loss(s, t, y, alpha=0.5, temperature=1.0, chunk_size=chunk_size)
    with pytest.raises(InputError, match="chunk_size"):
        divergence(s, t, kind="tvd", chunk_size=chunk_size)


def _peak_bytes(fn, folder) -> int:
    """Peak bytes of tensors allocated while fn runs, from torch's profiler."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    prof.export_chrome_trace(str(folder / "trace.json"))
    events = sorted((e for e in json.loads((folder / "trace.json").read_text())["traceEvents"]
                     if e.get("name") == "[memory]"), key=lambda e: e["ts"])
    start = events[0]["args"]["Total Allocated"] - events[0]["args"]["Bytes"]
    return max(e["args"]["Total Allocated"] for e in events) - start


@pytest.mark.parametrize("kind, k", [("forward_kl", None), ("forward_kl", 16), ("jsd", None)])
def test_chunks_bound_the_memory(kind, k, tmp_path):
    # beyond the gradient of the logits, the chunked loss holds a few chunks; the plain one
    # holds more than twice the logits besides
    s, t, y = _inputs(11, shape=(4, 64, 2048))
    teacher = _teacher(t, k)
    logits, chunk = s.numel() * 4, 16 * 2048 * 4
    peaks = {}
    for chunk_size in (None, 16):
        x = s.clone().requires_grad_(True)

        def step():
            total, _ = kd_loss(x, teacher, y, alpha=0.5, temperature=2.0, kind=kind,
                               beta=0.5, chunk_size=chunk_size)
            total.backward()
        peaks[chunk_size] = _peak_bytes(step, tmp_path) - logits  # less the gradient
    assert peaks[None] > 2 * logits
    assert peaks[16] < (6 if kind == "forward_kl" else 16) * chunk, peaks[16] / chunk

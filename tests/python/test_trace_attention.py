"""roundoff.trace inside self-attention: the projections and the two attention products of
nn.MultiheadAttention (so nn.TransformerEncoderLayer) are judged with the operands their kernels
received, fused attention kernels are listed as not judged, and a fault planted in a kernel
inside attention is the first violation and the only layer blamed (docs/python.md, "Whole
models", "Inside attention")."""

import json
import math

import pytest

import roundoff
from roundoff import _trace_aten

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
aten = torch.ops.aten
attention = pytest.importorskip("torch.nn.attention")
SDPBackend, sdpa_kernel = attention.SDPBackend, attention.sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

ATTENTION = ("self_attn.in_proj", "self_attn.q@k", "self_attn.p@v", "self_attn.out_proj")


def encoder():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval(), \
        torch.randn(2, 5, 32)


def names(parts):
    return [f"layers.{i}.{p}" for i in range(2) for p in parts]


def blamed(report):
    return [l.name for l in report.layers if l.verdict in ("violation", "suspicious")]


def same_storage(a, b):
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


class FaultyKernel(TorchDispatchMode):
    """A wrong kernel below the trace. Entered before roundoff.trace, it runs under the trace's
    own dispatch mode, so the trace sees its output as the op's output, as it would see a buggy
    library kernel's."""

    def __init__(self, match, compute):
        super().__init__()
        self.match, self.compute, self.hits = match, compute, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.match(func, args):
            self.hits += 1
            return self.compute(func, args, kwargs)
        return func(*args, **kwargs)


def test_encoder_attention_products_are_judged_clean():
    model, x = encoder()
    r = roundoff.trace(model, x, sdpa="math", progress=False)
    assert [l.name for l in r.layers] == names(ATTENTION + ("linear1", "linear2"))
    attention = [l for l in r.layers if ".self_attn." in l.name]
    assert [(l.op, l.aten_op) for l in attention[:4]] == [
        ("matmul", "aten.mm"), ("bmm", "aten.bmm"), ("bmm", "aten.bmm"), ("addmm", "aten.addmm")]
    assert all(l.source == "aten" and l.verdict == "consistent" and l.declared == "f32"
               for l in attention), r.to_markdown()
    assert r.ok and blamed(r) == [] and r.not_judged == [] and r.sdpa == "math"
    assert "math backend (sdpa='math')" in r.to_markdown()

    # The judged q@k is the scaled score matrix of layer 0, recomputed here in float64 from the
    # model's input and weights: SDPA's scale is in the operands it received, not lost.
    mha = model.layers[0].self_attn
    xx = x.double().transpose(0, 1)  # (L, N, E), as nn.MultiheadAttention runs batch_first
    proj = xx @ mha.in_proj_weight.double().t() + mha.in_proj_bias.double()
    heads = lambda t: t.reshape(5, 2 * 4, 8).transpose(0, 1)  # noqa: E731
    scores = heads(proj[..., :32]) @ heads(proj[..., 32:64]).transpose(1, 2) / math.sqrt(8)
    _, _, _, y = r._tensors[r.layers.index(r["layers.0.self_attn.q@k"])]
    torch.testing.assert_close(y.double(), scores, rtol=1e-5, atol=1e-5)
    x_in, w_in, _, _ = r._tensors[0]
    assert torch.equal(x_in, x.transpose(0, 1).reshape(10, 32))
    assert torch.equal(w_in, mha.in_proj_weight.t())


def test_fused_attention_is_listed_not_judged():
    model, x = encoder()
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        r = roundoff.trace(model, x, progress=False)
    assert [l.name for l in r.layers] == \
        names(("self_attn.in_proj", "self_attn.out_proj", "linear1", "linear2"))
    assert r.ok and blamed(r) == []
    fused = "aten._scaled_dot_product_flash_attention_for_cpu"
    assert [(n["name"], n["op"], n["count"]) for n in r.not_judged] == \
        [("layers.0.self_attn", fused, 1), ("layers.1.self_attn", fused, 1)]
    assert all(n["reason"] == _trace_aten.ATTENTION_REASON for n in r.not_judged)
    md = r.to_markdown()
    assert "Not judged: 2 calls" in md and f"- layers.1.self_attn: {fused} x1: fused" in md
    assert json.loads(r.to_json())["not_judged"] == r.not_judged

    # whatever backend PyTorch picks, each attention is judged or listed, never skipped
    r = roundoff.trace(model, x, progress=False)
    for i in range(2):
        judged = {f"layers.{i}.self_attn.q@k", f"layers.{i}.self_attn.p@v"} <= \
            {l.name for l in r.layers}
        listed = [n for n in r.not_judged if n["name"] == f"layers.{i}.self_attn"]
        assert judged != bool(listed), r.to_markdown()


def test_perturbed_in_proj_output_is_the_first_violation():
    model, x = encoder()
    w = model.layers[0].self_attn.in_proj_weight

    def perturbed(func, args, kwargs):
        y = func(*args, **kwargs).clone()
        y[3, 40] += 0.5  # one element of k
        return y

    fault = FaultyKernel(lambda f, a: f is aten.mm.default and same_storage(a[1], w), perturbed)
    with fault:
        r = roundoff.trace(model, x, progress=False)
    assert fault.hits == 1
    assert r.first_violation is not None
    assert r.first_violation.name == "layers.0.self_attn.in_proj", r.to_markdown()
    assert blamed(r) == ["layers.0.self_attn.in_proj"]


def test_dropped_term_in_q_at_k_is_the_first_violation():
    model, x = encoder()
    seen = []

    def third_bmm(func, args):  # layer 1's q@k: q@k, p@v of layer 0 run first
        if func is aten.bmm.default:
            seen.append(func)
            return len(seen) == 3
        return False

    def dropped(func, args, kwargs):
        q, k = args
        return func(q[..., 1:], k[..., 1:, :])

    fault = FaultyKernel(third_bmm, dropped)
    with fault:
        r = roundoff.trace(model, x, sdpa="math", progress=False)
    assert fault.hits == 1 and len(seen) == 4
    assert r.first_violation is not None
    assert r.first_violation.name == "layers.1.self_attn.q@k", r.to_markdown()
    assert blamed(r) == ["layers.1.self_attn.q@k"]


def test_bf16_accumulation_inside_out_proj_is_blamed_alone():
    model, x = encoder()
    w = model.layers[1].self_attn.out_proj.weight

    def bf16(func, args, kwargs):
        return func(*(a.bfloat16() for a in args), **kwargs).float()

    fault = FaultyKernel(lambda f, a: f is aten.addmm.default and same_storage(a[2], w), bf16)
    with fault:
        r = roundoff.trace(model, x, sdpa="math", progress=False)
    assert fault.hits == 1
    layer = r["layers.1.self_attn.out_proj"]
    assert layer.verdict != "consistent", layer
    if layer.verdict == "violation":
        assert r.first_violation is layer
    assert blamed(r) == ["layers.1.self_attn.out_proj"], r.to_markdown()


def test_attention_inside_functions_and_scaled_products():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(16, 2, batch_first=True)
            self.qkv = nn.Linear(16, 48)
            self.mix = nn.Parameter(torch.randn(16, 8))

        def forward(self, x):
            a, _ = self.mha(x, x, x)  # need_weights=True: torch.bmm inside F.mha_forward
            q, k, v = (t.unsqueeze(1) for t in self.qkv(a).chunk(3, -1))
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True).squeeze(1)
            e = torch.einsum("bld,de->ble", o, self.mix)
            s = aten.baddbmm.default(torch.zeros(2, 5, 5), e, e.transpose(1, 2), alpha=0.5)
            z = aten.baddbmm.default(torch.full_like(s, math.nan), s, s, beta=0)
            z0 = torch.addmm(torch.full((5, 5), math.nan), z[0], z[0], beta=0)
            return torch.addmm(torch.zeros(5), z0, torch.eye(5), alpha=2)

    torch.manual_seed(2)
    r = roundoff.trace(Block().eval(), torch.randn(2, 5, 16), sdpa="math", progress=False)
    got = [(l.name, l.op, l.source) for l in r.layers]
    assert got == [("mha.in_proj", "matmul", "aten"), ("mha.q@k", "bmm", "aten"),
                   ("mha.p@v", "bmm", "aten"), ("mha.out_proj", "addmm", "aten"),
                   ("qkv", "linear", "module"), ("q@k", "bmm", "aten"), ("p@v", "bmm", "aten"),
                   ("mix", "bmm", "aten"), ("", "bmm", "aten"), ("", "matmul", "call")], got
    assert r["mix"].aten_op == "aten.bmm"  # einsum's product, named after the parameter
    # beta = 0: torch never reads the NaN tensor, so the product alone is judged
    assert r.layers[-2].bias_shape is None and r.layers[-1].bias_shape is None
    assert r.ok and blamed(r) == [], r.to_markdown()
    # a scale inside the kernel is never judged against the unscaled product
    assert [(n["name"], n["op"], n["count"]) for n in r.not_judged] == \
        [("", "aten.baddbmm", 1), ("", "addmm", 1)]
    assert r.not_judged[0]["reason"].startswith("alpha = 0.5 scales the product")
    assert r.not_judged[1]["reason"].startswith("alpha = 2 scales the product")


def test_aten_convolutions_and_unjudged_products():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Parameter(torch.randn(4, 3, 3, 3))
            self.up = nn.Parameter(torch.randn(4, 2, 3, 3))
            self.fc = nn.Linear(4, 4)
            self.bil = nn.Parameter(torch.randn(3, 4, 4))

        def forward(self, x):
            y = aten.convolution.default(x, self.conv, None, [2, 1], [1, 1], [1, 1], False,
                                         [0, 0], 1)
            z = aten.convolution.default(y, self.up, torch.ones(2), [2, 2], [1, 0], [1, 1], True,
                                         [1, 0], 1)
            z = F.interpolate(z, scale_factor=2, mode="bilinear")  # not a product
            v = z.flatten(1)[:, :4]
            b = F.bilinear(v, v, self.bil)  # aten._trilinear
            m = torch.mv(self.fc.weight, v[0]) + torch.dot(v[0], v[1])  # not function targets
            a = aten._addmm_activation.default(self.fc.bias, v, self.fc.weight.t())
            return a + b.sum() + m.sum()

    torch.manual_seed(3)
    r = roundoff.trace(Net().eval(), torch.randn(2, 3, 8, 8), progress=False)
    got = [(l.name, l.op, l.args, l.aten_op) for l in r.layers]
    assert got == [
        ("conv", "conv2d", {"stride": (2, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 1},
         "aten.convolution"),
        ("up", "conv_transpose2d", {"stride": (2, 2), "padding": (1, 0), "dilation": (1, 1),
                                    "groups": 1, "output_padding": (1, 0)}, "aten.convolution"),
        ("fc", "matmul", {}, "aten.mv"), ("", "matmul", {}, "aten.dot")]
    assert r.ok, r.to_markdown()
    no_op = "a product roundoff has no op for"
    assert [(n["name"], n["op"], n["reason"]) for n in r.not_judged] == [
        ("", "aten._trilinear", f"aten._trilinear: {no_op}"),
        ("", "aten._addmm_activation", f"aten._addmm_activation: {no_op}")]


def test_trace_diff_under_autocast_names_attention_on_both_sides():
    model, x = encoder()
    d = roundoff.trace_diff(model, x, a=("cpu", torch.float32), b=("cpu", "autocast-bf16"),
                            sdpa="math", progress=False)
    assert [l.name for l in d.layers] == names(ATTENTION + ("linear1", "linear2"))
    assert d.unmatched == [] and d.a.not_judged == [] and d.b.not_judged == []
    assert all(l.verdict_a == "consistent" and l.verdict_b == "consistent" for l in d.layers), \
        d.to_markdown()
    # autocast's bf16 copy of in_proj_weight is followed back to the parameter
    proj = [l for l in d.layers if l.name.endswith("_proj")]
    assert all(l.declared_b == "bf16" for l in proj)
    assert all(l.output_divergence > 0 for l in d.layers)


def test_sdpa_argument():
    model, x = encoder()
    with pytest.raises(ValueError, match="sdpa: expected None"):
        roundoff.trace(model, x, sdpa="flash")
    with pytest.raises(TypeError, match="sdpa: expected None or 'math', got int"):
        roundoff.trace_diff(model, x, sdpa=1)


def test_native_fast_path_op_is_listed_not_judged():
    # tracing never takes nn.MultiheadAttention's fast path (test above: nothing is listed);
    # called directly, the fused op is listed under the module running it
    class Direct(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            m = self.mha
            return torch._native_multi_head_attention(
                x, x, x, 8, 2, m.in_proj_weight, m.in_proj_bias, m.out_proj.weight,
                m.out_proj.bias, need_weights=False)[0]

    torch.manual_seed(4)
    r = roundoff.trace(Direct().eval(), torch.randn(2, 3, 8), progress=False)
    assert r.layers == []
    assert r.not_judged == [{"name": "", "op": "aten._native_multi_head_attention", "count": 1,
                             "reason": _trace_aten.FAST_PATH_REASON}]

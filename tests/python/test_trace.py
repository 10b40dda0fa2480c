"""roundoff.trace / trace_diff on whole models: clean runs blame nobody, a planted fault in one
layer is the first violation and the only layer blamed (docs/python.md, "Whole models")."""

import json
import subprocess

import pytest

import roundoff

from conftest import cli_path

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
torchvision = pytest.importorskip("torchvision")


def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval(), torch.randn(1, 3, 64, 64)


def encoder():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval(), \
        torch.randn(2, 5, 32)


def blamed(report):
    return [l.name for l in report.layers if l.verdict in ("violation", "suspicious")]


class DroppedTerm(nn.Linear):
    """The product of the first input feature is missing."""

    def forward(self, x):
        return F.linear(x[..., 1:], self.weight[:, 1:], self.bias)


class Bf16Inside(nn.Linear):
    """An fp32 layer that computes in bf16."""

    def forward(self, x):
        return F.linear(x.bfloat16(), self.weight.bfloat16(), self.bias.bfloat16()).float()


def replace_linear(parent, attr, cls):
    old = getattr(parent, attr)
    new = cls(old.in_features, old.out_features)
    new.load_state_dict(old.state_dict())
    setattr(parent, attr, new.eval())


def test_resnet18_clean_has_no_violation():
    model, x = resnet()
    r = roundoff.trace(model, x, sample=0.25, progress=False)
    assert len(r.layers) == 21  # 20 convs and fc
    assert r.ok and r.first_violation is None, r.to_markdown()
    assert blamed(r) == []
    assert r["conv1"].sample == {"unit": "output channel", "units": list(range(2, 64, 4)),
                                 "of_units": 64, "elements": 16 * 32 * 32,
                                 "of_elements": 64 * 32 * 32}
    assert r["fc"].op == "linear" and r["conv1"].args["stride"] == (2, 2)


def test_resnet18_perturbed_channel_is_the_first_violation():
    model, x = resnet()
    conv = model.layer2[0].conv2
    orig = conv.forward

    def forward(inp):
        y = orig(inp)
        return y + 0.5 * (torch.arange(y.shape[1]) == 3).float().view(1, -1, 1, 1)

    conv.forward = forward
    r = roundoff.trace(model, x, progress=False)  # the one run judging every element
    assert all(l.sample is None for l in r.layers)
    assert r.first_violation is not None and r.first_violation.name == "layer2.0.conv2"
    assert blamed(r) == ["layer2.0.conv2"]


@pytest.mark.parametrize("cls", [DroppedTerm, Bf16Inside])
def test_resnet18_faulty_fc_is_blamed_alone(cls):
    model, x = resnet()
    replace_linear(model, "fc", cls)
    r = roundoff.trace(model, x, sample=0.05, progress=False)
    fc = r["fc"]
    assert fc.verdict != "consistent", fc
    if fc.verdict == "violation":
        assert r.first_violation is fc
    assert blamed(r) == ["fc"], r.to_markdown()
    assert any(l.sample is not None for l in r.layers)


def test_encoder_clean_and_planted_faults():
    model, x = encoder()
    r = roundoff.trace(model, x, progress=False)
    assert r.ok and blamed(r) == [], r.to_markdown()
    names = [l.name for l in r.layers]
    assert "layers.0.linear1" in names and "layers.1.linear2" in names

    model, x = encoder()
    replace_linear(model.layers[0], "linear1", DroppedTerm)
    r = roundoff.trace(model, x, progress=False)
    assert r.first_violation.name == "layers.0.linear1"
    assert blamed(r) == ["layers.0.linear1"]

    model, x = encoder()
    replace_linear(model.layers[1], "linear2", Bf16Inside)
    r = roundoff.trace(model, x, progress=False)
    layer = r["layers.1.linear2"]
    assert layer.verdict != "consistent"
    if layer.verdict == "violation":
        assert r.first_violation is layer
    assert blamed(r) == ["layers.1.linear2"]


def test_functional_calls_and_arguments_are_captured():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")
            self.group = nn.Conv2d(8, 8, 3, padding="same", groups=4)
            self.up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)

        def forward(self, x):
            y = self.up(self.group(self.conv(x)))
            z = y.flatten(2) @ y.flatten(2).transpose(1, 2)
            return torch.addmm(torch.ones(4), z[0], z[0]) + torch.bmm(z, z).sum()

    torch.manual_seed(1)
    r = roundoff.trace(Net().eval(), torch.randn(2, 3, 6, 6), progress=False)
    ops = [(l.name, l.op) for l in r.layers]
    assert ops == [("conv", "conv2d"), ("group", "conv2d"), ("up", "conv_transpose2d"),
                   ("", "matmul"), ("", "addmm"), ("", "bmm")], ops
    assert r["conv"].args["padding_mode"] == "reflect"
    assert r["group"].args["groups"] == 4 and r["up"].args["output_padding"] == (1, 1)
    assert r.ok, r.to_markdown()
    s = roundoff.trace(Net().eval(), torch.randn(2, 3, 6, 6), sample=0.3, progress=False)
    assert s.ok and s["group"].sample["unit"] == "group"
    assert json.loads(s.to_json())["sample"] == 0.3


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, stride=2),
                         nn.ReLU(), nn.Flatten(), nn.Linear(16 * 7 * 7, 10)).eval(), \
        torch.randn(4, 3, 16, 16)


def test_trace_diff_fp32_vs_bf16_autocast_localizes_entry():
    model, x = small_cnn()
    d = roundoff.trace_diff(model, x, a=("cpu", torch.float32), b=("cpu", "autocast-bf16"),
                            progress=False)
    assert [l.name for l in d.layers] == ["0", "2", "5"] and d.unmatched == []
    first = d.layers[0]
    assert first.input_divergence == 0 and first.added > 0 and d.entry is first
    assert all(l.input_divergence > 0 for l in d.layers[1:])  # inherited from the layers before
    assert all(l.verdict_a == "consistent" and l.declared_a == "f32" for l in d.layers)
    assert all(l.declared_b == "bf16" and l.verdict_b == "consistent" for l in d.layers), \
        d.to_markdown()
    assert "Divergence enters at #0 0 " in d.to_markdown()
    assert json.loads(d.to_json())["layers"][0]["added"] == first.added


def test_trace_diff_of_an_encoder_reports_each_linear():
    # the attention's projections are products seen at the aten level (inside
    # F.multi_head_attention_forward); the fused attention kernel between them is listed as not
    # judged on both sides (tests/python/test_trace_attention.py judges it with sdpa="math")
    model, x = encoder()
    d = roundoff.trace_diff(model, x, b=("cpu", torch.bfloat16), progress=False)
    assert [l.name for l in d.layers][:4] == ["layers.0.self_attn.in_proj",
                                              "layers.0.self_attn.out_proj",
                                              "layers.0.linear1", "layers.0.linear2"]
    assert all(l.added is not None and l.output_divergence > 0 for l in d.layers)
    assert all(l.verdict_b == "consistent" and l.declared_b == "bf16" for l in d.layers), \
        d.to_markdown()
    for side in (d.a, d.b):
        assert all(n["name"].endswith("self_attn") for n in side.not_judged)


def test_save_is_judged_again_by_the_cli(tmp_path):
    model, x = encoder()
    replace_linear(model.layers[0], "linear2", DroppedTerm)
    r = roundoff.trace(model, x, progress=False)
    path = tmp_path / "trace.safetensors"
    r.save(str(path))
    cli = cli_path()
    if cli is None:
        pytest.skip("the roundoff command is not built (build/src/cli/roundoff; or ROUNDOFF_CLI)")
    for l in r.layers:
        meta = _metadata(path)[str(l.index)]
        args = json.loads(meta)["command"].split()[1:]
        out = subprocess.run([cli, *args, "--format", "json"], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode in (0, 1), out.stderr
        got = json.loads(out.stdout)["results"][0]
        assert got["verdict"] == l.verdict, (l, got)


def _metadata(path):
    import struct

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]

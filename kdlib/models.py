"""Every model of kdlib, and every builder: 1D families with a width/depth knob (an MLP, a 1D CNN, a small ViT), the
CIFAR models (`kdlib.convnets`, and a ViT on image patches), and a character-level GPT.

Every classifier is a stack of `blocks` followed by a linear `head`; `forward(x, return_features=True)`
also returns each block's output, so losses that supervise intermediate layers need no second class.
Named sizes ("cnn-small", "mlp-large", ...) fix (width, depth). `build_for(name, data)` builds any classifier for a
Dataset; `build_gpt(name, vocab_size, block_size)` a GPT.
"""
from __future__ import annotations

import importlib
import math
import re

import torch
from torch import nn

from .convnets import Head, fast_convnet, resnet18, resnet_cifar
from .errors import ConfigError, check_choice
from .vision import STATS, Normalize


class Net(nn.Module):
    """blocks -> flatten -> head. Input [B, *input_shape], output logits [B, num_classes]."""

    def __init__(self, blocks: list[nn.Module], head_in: int, num_classes: int, prepare=None):
        super().__init__()
        self.prepare = prepare or nn.Identity()
        self.blocks = nn.ModuleList(blocks)
        self.head = Head(head_in, num_classes)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self.prepare(x)
        features = []
        for block in self.blocks:
            h = block(h)
            features.append(h)
        logits = self.head(h.flatten(1))
        return (logits, features) if return_features else logits


def mlp(input_shape, num_classes: int, width: int = 128, depth: int = 2) -> Net:
    """`depth` hidden layers of `width` units with ReLU."""
    d_in = math.prod(input_shape)
    blocks, prev = [], d_in
    for _ in range(depth):
        blocks.append(nn.Sequential(nn.Linear(prev, width), nn.ReLU()))
        prev = width
    return Net(blocks, prev, num_classes, prepare=nn.Flatten(1))


def cnn1d(input_shape, num_classes: int, width: int = 32, depth: int = 3) -> Net:
    """`depth` conv blocks (kernel 5, `width` channels, ReLU); the first two halve the length.

    Inputs [B, L] are treated as one channel; [B, C, L] are used as they are.
    """
    channels, length = (1, input_shape[0]) if len(input_shape) == 1 else input_shape[:2]
    blocks, prev = [], channels
    for i in range(depth):
        stride = 2 if i < 2 else 1
        blocks.append(nn.Sequential(nn.Conv1d(prev, width, 5, stride=stride, padding=2), nn.ReLU()))
        prev = width
        length = (length + 2 * 2 - 5) // stride + 1
    prepare = nn.Unflatten(1, (1, input_shape[0])) if len(input_shape) == 1 else None
    return Net(blocks, width * length, num_classes, prepare=prepare)


class SelfAttention(nn.Module):
    """Multi-head self-attention over [B, T, C]; `causal`: position t attends to positions <= t only."""

    def __init__(self, n_embd: int, n_head: int, causal: bool = True):
        super().__init__()
        self.n_head, self.causal = n_head, causal
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x)). Causal for the GPT, not for the ViT."""

    def __init__(self, n_embd: int, n_head: int, causal: bool = True):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.attn = SelfAttention(n_embd, n_head, causal)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class ViT(nn.Module):
    """A small vision transformer: signals [B, L] or [B, C, L] in patches of `patch` samples, or images [B, C, H, W]
    in patches of `patch` × `patch` pixels (zero-padded at the end to a multiple) -> linear embedding + learned
    positions -> `depth` non-causal pre-norm blocks -> LayerNorm, mean over tokens -> linear head [B, num_classes].
    `prepare` runs first (for images: `kdlib.vision.Normalize`, so uint8 pixels go in).

    Like Net it has `blocks` and `head`; `return_features=True` gives each block's output as [B, width, tokens]
    (channels first, as the CNN's), so AuxiliaryHeads and the random-head control work unchanged.
    """

    def __init__(self, input_shape, num_classes: int, width: int = 64, depth: int = 3, patch: int = 4,
                 head_dim: int = 16, prepare: nn.Module | None = None):
        super().__init__()
        input_shape = tuple(input_shape)
        if len(input_shape) not in (1, 2, 3):
            raise ConfigError(f"input_shape={input_shape}: the ViT takes [L], [C, L] or [C, H, W] inputs")
        self.prepare = prepare or nn.Identity()
        self.channels = 1 if len(input_shape) == 1 else input_shape[0]
        self.patch = patch
        sizes = input_shape[-1:] if len(input_shape) < 3 else input_shape[1:]  # (L,) or (H, W)
        self.grid = tuple(-(-n // patch) for n in sizes)  # patches along each axis (ceil)
        self.pads = tuple(g * patch - n for g, n in zip(self.grid, sizes))
        self.tokens = math.prod(self.grid)
        self.pad = self.pads[-1]
        self.embed = nn.Linear(self.channels * patch ** len(sizes), width)
        self.pos = nn.Parameter(torch.zeros(1, self.tokens, width))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(TransformerBlock(width, max(1, width // head_dim), causal=False)
                                    for _ in range(depth))
        self.ln = nn.LayerNorm(width)
        self.head = Head(width, num_classes)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """[B, L] or [B, C, L] -> [B, tokens, C * patch]: patch i holds samples i*patch ... (i+1)*patch - 1.
        [B, C, H, W] -> [B, tokens, C * patch * patch], tokens in row-major order of the patch grid."""
        p = self.patch
        if x.ndim == 2:
            x = x[:, None]
        if x.ndim == 3:
            x = torch.nn.functional.pad(x, (0, self.pad))
            b, c, _ = x.shape
            return x.view(b, c, self.tokens, p).permute(0, 2, 1, 3).reshape(b, self.tokens, c * p)
        x = torch.nn.functional.pad(x, (0, self.pads[1], 0, self.pads[0]))
        b, c = x.shape[:2]
        (gh, gw) = self.grid
        x = x.reshape(b, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5)  # [B, gh, gw, C, p, p]
        return x.reshape(b, self.tokens, c * p * p)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self.embed(self.patches(self.prepare(x))) + self.pos
        features = []
        for block in self.blocks:
            h = block(h)
            features.append(h.transpose(1, 2))
        logits = self.head(self.ln(h).mean(1))
        return (logits, features) if return_features else logits


def vit1d(input_shape, num_classes: int, width: int = 64, depth: int = 3) -> ViT:
    """ViT with patches of 4 samples and heads of 16 dimensions (MNIST-1D's 40 samples: 10 tokens)."""
    return ViT(tuple(input_shape), num_classes, width=width, depth=depth)


class AuxiliaryHeads(nn.Module):
    """A Net plus one linear classifier per intermediate block (every block but the last), for deep supervision.

    Each aux head reads its block's output averaged over length ([B, C, L] -> [B, C]; MLP features [B, D] as they
    are). Training mode returns (logits, [aux logits [B, K], ...]); eval mode only the logits, so `predict` works
    unchanged. A one-block net gets no aux heads and returns (logits, []) in training mode.
    The base net is kept as is (same parameter objects; its state_dict keys appear under "net.").
    """

    def __init__(self, net: Net, num_classes: int):
        super().__init__()
        if num_classes != net.head.out_features:
            raise ConfigError(f"num_classes={num_classes} but the net has {net.head.out_features} outputs")
        self.net = net
        self.aux_heads = nn.ModuleList(Head(_out_dim(block), num_classes) for block in net.blocks[:-1])

    def forward(self, x: torch.Tensor):
        if not self.training:
            return self.net(x)
        logits, features = self.net(x, return_features=True)
        # average conv maps over length, so a head's size depends on the width only, not the input length
        pooled = [f.mean(-1) if f.ndim == 3 else f for f in features[:-1]]
        return logits, [head(f) for head, f in zip(self.aux_heads, pooled)]


def _out_dim(block: nn.Module) -> int:
    """Channels (conv) or units (linear) of a block's output: those of its last Conv1d or Linear layer."""
    last = [m for m in block.modules() if isinstance(m, (nn.Conv1d, nn.Linear))][-1]
    return last.out_channels if isinstance(last, nn.Conv1d) else last.out_features


FAMILIES = {"mlp": mlp, "cnn": cnn1d, "vit": vit1d}
SIZES = {  # (width, depth)
    "mlp": {"tiny": (32, 1), "small": (64, 2), "base": (128, 2), "large": (256, 3)},
    "cnn": {"tiny": (8, 2), "small": (16, 3), "base": (32, 3), "large": (64, 4)},
    "vit": {"tiny": (16, 1), "small": (32, 2), "base": (48, 2), "large": (64, 3)},
}
MODELS = [f"{family}-{size}" for family, sizes in SIZES.items() for size in sizes]


def parse_model(name: str) -> tuple[str, int, int]:
    """'cnn-small' -> ('cnn', 16, 3)."""
    check_choice("model", name, MODELS)
    family, size = name.split("-", 1)
    return (family, *SIZES[family][size])


def build_model(name: str, input_shape, num_classes: int) -> nn.Module:
    family, width, depth = parse_model(name)
    if len(input_shape) not in (1, 2):
        raise ConfigError(f"input_shape={tuple(input_shape)}: the {family} family takes [L] or [C, L] inputs")
    return FAMILIES[family](tuple(input_shape), num_classes, width=width, depth=depth)


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


CIFAR_MODELS = {
    "resnet18": lambda k, s: resnet18(k, s),
    "resnet20": lambda k, s: resnet_cifar(20, k, s),
    "resnet56": lambda k, s: resnet_cifar(56, k, s),
    "convnet-s": lambda k, s: fast_convnet(k, s, width=32),
    "convnet-l": lambda k, s: fast_convnet(k, s, width=64),
    # C6's small ViT on images: 4×4-pixel patches of a 32×32 image (64 tokens), width 192, 6 blocks of 12 heads
    "vit-cifar": lambda k, s: ViT((3, 32, 32), k, width=192, depth=6, patch=4, prepare=Normalize(*s)),
}


def build_cifar_model(name: str, dataset: str = "cifar10") -> nn.Module:
    """A CIFAR model by name (CIFAR_MODELS), normalising with `dataset`'s channel statistics; its 4D weights are in
    channels_last memory format (faster convolutions on GPUs, the layout `Normalize` gives the images)."""
    check_choice("model", name, CIFAR_MODELS)
    check_choice("dataset", dataset, STATS)
    model = CIFAR_MODELS[name](10 if dataset == "cifar10" else 100, STATS[dataset])
    return model.to(memory_format=torch.channels_last)


def build_for(name: str, data) -> nn.Module:
    """The classifier `name` for the Dataset `data`: a CIFAR model for CIFAR images, a factory
    "package.module:function", else a 1D family. A teacher name may end in "@sha256:<digest>" (its weights come from
    that checkpoint; see kdlib.owndata): the architecture is the part before it."""
    name = split_checkpoint(name)[0]
    if data.name in STATS:
        return build_cifar_model(name, data.name)
    if is_factory(name):
        return build_factory(name, data.input_shape, data.num_classes)
    return build_model(name, data.input_shape, data.num_classes)


# ---- the reader's own models: a factory "package.module:function", called as function(input_shape, num_classes)
FACTORY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
CHECKPOINT = "@sha256:"  # a teacher "<architecture>@sha256:<64 hex digits>" loads its weights from that checkpoint


def is_factory(name) -> bool:
    return isinstance(name, str) and FACTORY.fullmatch(name) is not None


def split_checkpoint(name):
    """'mlp-base@sha256:ab..' -> ('mlp-base', 'ab..'); a name without a checkpoint -> (name, None)."""
    if isinstance(name, str) and CHECKPOINT in name:
        arch, digest = name.split(CHECKPOINT, 1)
        return arch, digest
    return name, None


def check_name(parameter: str, name, known, custom: bool = False, checkpoint: bool = False) -> None:
    """`name` is one of `known`; with `custom` (the reader's own data) also a factory "package.module:function"; with
    `checkpoint` (a teacher on own data) either may end in "@sha256:<64 hex digits>". Only the form is checked here:
    `check_classifier` imports and runs a factory."""
    if not custom:
        return check_choice(parameter, name, known)
    arch, digest = split_checkpoint(name) if checkpoint else (name, None)
    if digest is not None and not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ConfigError(f"{parameter}={name!r}: the checkpoint digest is not allowed; allowed: "
                          "'<model>@sha256:<64 lowercase hex digits>'")
    if not (arch in known or is_factory(arch)):
        raise ConfigError(f"{parameter}={name!r} is not known; allowed: {', '.join(sorted(known))}, or a factory "
                          "'package.module:function'")


def load_factory(spec: str, parameter: str = "model"):
    """The function named by "package.module:function" (imported), or a ConfigError saying why not."""
    if not is_factory(spec):
        raise ConfigError(f"{parameter}={spec!r} is not a factory; allowed: 'package.module:function'")
    module_name, fn_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # not found, or the module itself fails on import
        raise ConfigError(f"{parameter}={spec!r}: module {module_name!r} cannot be imported ({type(e).__name__}: "
                          f"{e}); allowed: an importable 'package.module:function' (on sys.path, e.g. pip "
                          "install -e your package)") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise ConfigError(f"{parameter}={spec!r}: module {module_name!r} has no function {fn_name!r}; allowed: "
                          "'package.module:function' naming a callable")
    return fn


def build_factory(spec: str, input_shape, num_classes: int, parameter: str = "model") -> nn.Module:
    """function(input_shape, num_classes) of the factory `spec`; it must return a torch.nn.Module."""
    fn = load_factory(spec, parameter)
    try:
        model = fn(tuple(input_shape), int(num_classes))
    except Exception as e:
        raise ConfigError(f"{parameter}={spec!r} failed when called as {spec.split(':')[1]}(input_shape="
                          f"{tuple(input_shape)}, num_classes={num_classes}) ({type(e).__name__}: {e}); allowed: a "
                          "function(input_shape, num_classes) returning a torch.nn.Module") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{parameter}={spec!r} returned a {type(model).__name__}, not a torch.nn.Module; allowed: "
                          "a function(input_shape, num_classes) returning a torch.nn.Module")
    return model


def check_classifier(parameter: str, name: str, data) -> nn.Module:
    """Build `name` for `data` and run it on two training inputs: it must give logits [2, num_classes]. A ConfigError
    naming `parameter` otherwise (before any training). Returns the model."""
    arch = split_checkpoint(name)[0]
    if is_factory(arch):
        model = build_factory(arch, data.input_shape, data.num_classes, parameter=parameter)
    else:
        model = _family(parameter, name, data)
    x = data.x_train[:2].cpu()
    try:
        with torch.no_grad():
            logits = model.eval()(x)
    except Exception as e:
        raise ConfigError(f"{parameter}={name!r} fails on two training inputs of shape {tuple(x.shape)} "
                          f"({type(e).__name__}: {e}); allowed: a model taking [B, *input_shape] inputs") from None
    shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
    if shape != (len(x), data.num_classes):
        raise ConfigError(f"{parameter}={name!r} gives outputs of shape {shape} for inputs of shape {tuple(x.shape)}; "
                          f"allowed: logits of shape [B, num_classes] = {[len(x), data.num_classes]}")
    return model


def _family(parameter: str, name: str, data) -> nn.Module:
    try:
        return build_for(name, data)
    except ConfigError as e:
        raise ConfigError(f"{parameter}={name!r}: {e}") from None


class CharGPT(nn.Module):
    """A small GPT over characters: ids [B, T] (T <= block_size) -> next-character logits [B, T, vocab_size].
    Learned token and position embeddings, pre-norm causal blocks, a final LayerNorm and a linear head."""

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int):
        super().__init__()
        if n_embd % n_head:
            raise ConfigError(f"n_embd={n_embd} is not a multiple of n_head={n_head}")
        self.block_size = block_size
        self.tok = nn.Embedding(vocab_size, n_embd)
        self.pos = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(TransformerBlock(n_embd, n_head, causal=True) for _ in range(n_layer))
        self.ln = nn.LayerNorm(n_embd)
        self.head = Head(n_embd, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.block_size:
            raise ConfigError(f"sequence length {t} exceeds block_size={self.block_size}")
        h = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln(h))


GPT_SIZES = {"tiny": (2, 2, 64), "small": (4, 4, 128), "base": (6, 6, 192)}  # (n_layer, n_head, n_embd)


def build_gpt(size: str, vocab_size: int, block_size: int = 128) -> CharGPT:
    """'gpt-tiny' / 'gpt-small' / 'gpt-base' (or the size alone) -> a CharGPT."""
    size = size.removeprefix("gpt-")
    check_choice("gpt size", size, GPT_SIZES)
    return CharGPT(vocab_size, block_size, *GPT_SIZES[size])

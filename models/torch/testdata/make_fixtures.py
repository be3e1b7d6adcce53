"""Writes the TorchScript fixtures of models/torch's tests.

Run with Debian's PyTorch (apt-get install -y python3-torch):

    /usr/bin/python3 models/torch/testdata/make_fixtures.py 62 models/torch/testdata

or through make_fixtures.sh, which reads the feature count from
models/features. The weights are a closed formula, so the Go tests compute
the expected outputs without PyTorch:

    w[i] = ((i % 7) - 3) / 20,  b = -0.5,  logit(x) = w . x + b

Files:
    linear.pt        [batch, n] -> [batch]     the logit above
    wrong_width.pt   [batch, n-1] -> [batch]   rejected: input width
    two_outputs.pt   [batch, n] -> [batch, 2]  rejected: output shape
"""
import os
import sys

import torch


class Linear(torch.nn.Module):
    def __init__(self, n_in: int, n_out: int, squeeze: bool):
        super().__init__()
        self.lin = torch.nn.Linear(n_in, n_out)
        self.squeeze = squeeze
        with torch.no_grad():
            w = torch.tensor([((i % 7) - 3) / 20.0 for i in range(n_in)])
            self.lin.weight.copy_(w.repeat(n_out, 1))
            self.lin.bias.fill_(-0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lin(x)
        if self.squeeze:
            y = y.squeeze(-1)
        return y


def save(module: torch.nn.Module, path: str) -> None:
    torch.jit.save(torch.jit.script(module.eval()), path)
    print(path, os.path.getsize(path), "bytes")


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: make_fixtures.py FEATURE_COUNT OUT_DIR")
    n, out = int(sys.argv[1]), sys.argv[2]
    torch.manual_seed(0)
    save(Linear(n, 1, True), os.path.join(out, "linear.pt"))
    save(Linear(n - 1, 1, True), os.path.join(out, "wrong_width.pt"))
    save(Linear(n, 2, False), os.path.join(out, "two_outputs.pt"))


if __name__ == "__main__":
    main()

"""The stochastic parameters of a law program, laid out as one flat vector of probabilities.

Bernoulli parameter `p` contributes p and 1 - p; categorical parameter `c` with K labels contributes
its K probabilities. `ParamLayout.probabilities(values)` builds the vector (differentiable in torch);
law predictions refer to entries of it by index.
"""

from __future__ import annotations

import dataclasses

import torch

from lawsmith.dsl import ir


@dataclasses.dataclass(frozen=True)
class ParamLayout:
    """Where each parameter's probabilities sit in the flat vector."""
    bernoulli: tuple[str, ...]
    categorical: tuple[tuple[str, int], ...]   # (name, number of labels)
    parameters: dict

    @staticmethod
    def of(program: ir.Program) -> "ParamLayout":
        names = sorted(program.parameters)
        bernoulli = tuple(n for n in names if program.parameters[n].kind == "bernoulli")
        categorical = tuple((n, len(program.parameters[n].labels)) for n in names
                            if program.parameters[n].kind == "categorical")
        return ParamLayout(bernoulli, categorical, dict(program.parameters))

    @property
    def size(self) -> int:
        return 2 * len(self.bernoulli) + sum(k for _, k in self.categorical)

    def index(self, name: str, label: int | None = None, complement: bool = False) -> int:
        """The vector index of a Bernoulli parameter (or its complement) or a categorical label."""
        if name in self.bernoulli:
            i = self.bernoulli.index(name)
            return i + len(self.bernoulli) if complement else i
        offset = 2 * len(self.bernoulli)
        for other, count in self.categorical:
            if other == name:
                return offset + int(label)
            offset += count
        raise KeyError(name)

    def probabilities(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """The flat vector from parameter values (Bernoulli: scalar; categorical: [K] simplex)."""
        parts = []
        if self.bernoulli:
            theta = torch.stack([torch.as_tensor(values[n], dtype=torch.float64).reshape(())
                                 for n in self.bernoulli])
            parts += [theta, 1 - theta]
        parts += [torch.as_tensor(values[n], dtype=torch.float64).reshape(k)
                  for n, k in self.categorical]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)

    def initial_values(self) -> dict[str, list[float] | float]:
        """Starting values: the law text's `init`, else the prior's mean, else uniform."""
        values: dict[str, list[float] | float] = {}
        for name in self.bernoulli:
            spec = self.parameters[name]
            if spec.init:
                values[name] = float(spec.init[0])
            elif spec.prior:
                a, b = spec.prior
                values[name] = a / (a + b)
            else:
                values[name] = 0.5
        for name, count in self.categorical:
            spec = self.parameters[name]
            if spec.init:
                total = sum(spec.init)
                values[name] = [v / total for v in spec.init]
            elif spec.prior:
                total = sum(spec.prior)
                values[name] = [a / total for a in spec.prior]
            else:
                values[name] = [1.0 / count] * count
        return values

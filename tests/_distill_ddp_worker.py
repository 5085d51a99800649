"""One process of the 2-process gloo test: runs one distillation step and saves the gradients."""

import sys

import torch

from ldprune_deploy.distillation import DistillConfig, distill


def main(student: str, data: str, out: str, grads: str, batch: int) -> None:
    def save(step, model):
        torch.save({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}, grads)

    distill("tiny-uncond", student, DistillConfig(output=out, steps=1, batch_size=batch, data=data, cpu=True,
                                                  progress=False, save_final=False), on_grads=save)


if __name__ == "__main__":
    torch.set_num_threads(1)  # two processes share the two cores
    main(*sys.argv[1:5], int(sys.argv[5]))

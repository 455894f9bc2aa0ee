"""TRL's SFTTrainer with one change: on CPU the LM head is applied only at positions that carry a label.

Why a subclass: TRL 1.16 already replaces the full-vocabulary logits with a fused, chunked log-prob head, but it
scores only the labelled positions on Triton devices (CUDA/XPU); elsewhere it scores every position, padding and
prompt included, with a tile loop written in torch ops. Gemma-3's LM head (262k x 640) costs more than its 18
transformer layers, and in translation data most positions are prompt, so on a CPU that head dominates each step.
transformers 5.23 lets `logits_to_keep` be a boolean (batch, seq) mask, returning logits for the kept positions
only, flattened to (n_kept, vocab) — exactly the label positions, through the model's own forward (so DDP, FSDP
and PEFT wrappers all see a normal call). Liger's fused loss is Triton-only, so it is no option on CPU either.
Everything else (data preparation, assistant masks, truncation, metrics, checkpointing) is TRL's and
transformers'. On a GPU, `label_only_head=False` keeps TRL's fused head, which is already label-only there and
never materialises the (n_kept, vocab) logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import SFTTrainer

from hala.errors import ConfigError


class HalaSFTTrainer(SFTTrainer):
    def __init__(self, *args, label_only_head: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_only_head = label_only_head

    def _set_signature_columns_if_needed(self):
        # Keep the cached `length` column: the length-grouped sampler reads it instead of decoding every row's
        # input_ids (minutes and gigabytes per rank at 4.5M examples). TRL's collator ignores it.
        super()._set_signature_columns_if_needed()
        if "length" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "length"]

    def _get_train_sampler(self, train_dataset=None):
        # transformers' LengthGroupedSampler shuffles with the global torch RNG when its epoch starts. A resume in
        # the middle of an epoch restores that RNG only after the epoch's iterator has drawn its order, so the
        # resumed epoch saw other batches than the uninterrupted run wherever dropout (or anything) had drawn from
        # the RNG before it. Seeding each epoch's shuffle by (seed, epoch) makes the order a function of the epoch
        # alone, as accelerate's SeedableRandomSampler does for the plain random strategy.
        from transformers.trainer_pt_utils import LengthGroupedSampler

        sampler = super()._get_train_sampler(train_dataset)
        if isinstance(sampler, LengthGroupedSampler) and sampler.generator is None:
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return EpochSeeded(sampler, seed, lambda: self.state.epoch or 0.0)
        return sampler

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not self.label_only_head or return_outputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mode = "train" if self.model.training else "eval"
        labels = inputs["labels"]
        targets = labels[:, 1:]
        trained = targets != -100
        # Position t predicts token t+1: keep the positions whose next token is trained.
        keep = F.pad(trained, (0, 1), value=False)
        model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        logits = model(**model_inputs, use_cache=False, logits_to_keep=keep).logits
        if logits.dim() != 2:
            raise ConfigError(
                f"{type(self.accelerator.unwrap_model(model)).__name__} ignores a boolean "
                f"`logits_to_keep`; set label_only_head: false for this model"
            )
        target_ids = targets[trained]
        loss = F.cross_entropy(logits.float(), target_ids, reduction="sum")
        # Same normalisation as SFTTrainer: by the trained tokens of the whole accumulated (and, with
        # average_tokens_across_devices, all-process) batch, which DDP then averages across processes.
        denominator = trained.sum() if num_items_in_batch is None else num_items_in_batch
        loss = loss / torch.as_tensor(denominator, device=loss.device).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        self._log_token_metrics(mode, logits, target_ids, inputs)
        return loss

    @torch.no_grad()
    def _log_token_metrics(self, mode: str, logits: torch.Tensor, target_ids: torch.Tensor, inputs: dict) -> None:
        """The metrics SFTTrainer logs (token accuracy, tokens seen), from the label-only logits."""
        gather = self.accelerator.gather_for_metrics
        n_valid = gather(torch.as_tensor(target_ids.numel(), device=logits.device)).sum()
        n_correct = gather((logits.argmax(-1) == target_ids).sum()).sum()
        self._metrics[mode]["mean_token_accuracy"].append((n_correct / n_valid).item() if n_valid > 0 else 0.0)
        if mode == "train":
            real = inputs["attention_mask"].sum() if "attention_mask" in inputs else inputs["input_ids"].numel()
            self._total_train_tokens += gather(torch.as_tensor(real, device=logits.device)).sum().item()
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]


class EpochSeeded(torch.utils.data.Sampler):
    """A sampler whose shuffle is seeded by (seed, epoch), the epoch read from the trainer's state when iteration
    starts (a resumed run restores that state before its first epoch)."""

    def __init__(self, sampler, seed: int, epoch):
        self.sampler, self.seed, self.epoch = sampler, seed, epoch

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        # The state's epoch is `epoch + steps_done / steps_in_epoch`, exactly whole at an epoch's start.
        self.sampler.generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.epoch() + 1e-9))
        return iter(self.sampler)

"""Task `dpo`: preference optimisation with TRL's DPOTrainer on DeepSpeed.

The pairs file has prompt / chosen / rejected (the spec's field names). The reference
model is named explicitly (a saved path: the model being trained at its start, or
another checkpoint, as SPIN's opponent), or implicit under LoRA (adapters disabled).
Loss types and beta come from the spec; rewards, margins and accuracies are logged to
TensorBoard by TRL under the run's tb/.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.core import data, environment, models, training, vision
from runtime.core.errors import TaskInputError
from runtime.core.preemption import EXIT_REQUEUE
from specs.tasks import DatasetRef, RunConfig, VisionPrompt
from specs.tasks.generic import DPOTask


def clip_prompt(tokenizer: Any, prompt: str, limit: int | None) -> str:
    """The prompt's last `limit` tokens: TRL 1.x dropped `max_prompt_length`, and a long
    prompt should lose its beginning (the question comes last), not the answers."""
    if not limit:
        return prompt
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return prompt if len(ids) <= limit else str(tokenizer.decode(ids[-limit:]))


def pairs_dataset(ds: Any, ref: DatasetRef, chat: bool, path: str, vis: VisionPrompt | None = None,
                  clip: Callable[[str], str] | None = None) -> Any:
    cols = data.columns(ref, vis)
    p, c, r = cols.prompt, ref.chosen_field, ref.rejected_field
    needed = [c, r, *([p] if p else []), *([cols.image] if cols.image else [])]
    ds = data.require_columns(ds, needed, path, "data.prompt_field / data.chosen_field / data.rejected_field"
                              + (" / data.image_field" if cols.image else ""), empty="refuse")

    def prompt_of(row: dict[str, Any]) -> str:
        return str(row[p]) if p and p in row else (cols.fixed_prompt or "")

    if cols.image is not None:
        return vision.with_images(ds, cols.image, path, lambda row: {
            "prompt": vision.user_turn(prompt_of(row), True),
            "chosen": vision.assistant_turn(str(row[c])), "rejected": vision.assistant_turn(str(row[r]))})

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        prompt = clip(prompt_of(row)) if clip else prompt_of(row)
        if chat:
            return {"prompt": [{"role": "user", "content": prompt}],
                    "chosen": [{"role": "assistant", "content": str(row[c])}],
                    "rejected": [{"role": "assistant", "content": str(row[r])}]}
        return {"prompt": prompt, "chosen": str(row[c]), "rejected": str(row[r])}

    return ds.map(convert, remove_columns=ds.column_names)


def run(run: RunConfig, tc: DPOTask) -> int:
    environment.prepare_training(run)
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText
    from trl import DPOConfig, DPOTrainer

    model_path, tokenizer_path = models.paths(tc.model, run.base_dir)
    image = data.columns(tc.pairs, tc.vision).image
    tokenizer = models.load_processing(tokenizer_path, image is not None)
    ds, pairs_path = data.load_ref(tc.pairs, run.base_dir, "pairs")
    limit = tc.dpo.max_prompt_length
    train = pairs_dataset(ds, tc.pairs, getattr(tokenizer, "chat_template", None) is not None, pairs_path, tc.vision,
                          clip=None if image or not limit else lambda text: clip_prompt(tokenizer, text, limit))
    auto = AutoModelForImageTextToText if image else AutoModelForCausalLM
    assert run.training is not None
    try:
        args = DPOConfig(**training.arguments(run, {
            "beta": tc.dpo.beta,
            "loss_type": list(tc.dpo.loss_type),
            "loss_weights": tc.dpo.loss_weights,
            "label_smoothing": tc.dpo.label_smoothing,
            "max_length": None if image else run.training.max_length,  # never cut image tokens
        }))
    except ValueError as exc:
        raise TaskInputError(f"dpo settings: {exc}") from None
    peft = training.lora_config(run.peft)
    try:
        model = auto.from_pretrained(model_path, **models.model_kwargs(tc.model))
        ref = None if tc.reference is None else auto.from_pretrained(
            models.paths(tc.reference, run.base_dir, "reference")[0], **models.model_kwargs(tc.reference))
    except (OSError, ValueError) as exc:
        raise TaskInputError(f"model or reference: cannot load ({exc})") from None
    if ref is None and peft is None:
        raise TaskInputError("dpo: name the reference model (a saved path) or enable peft (LoRA)")
    stop = training.preemption_callback(run)
    trainer = DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=train, processing_class=tokenizer,
                         peft_config=peft, callbacks=[stop])
    trained = training.train(trainer, stop, "dpo")
    if trained is None:
        return EXIT_REQUEUE
    result, resume = trained
    logged = {k: v for entry in trainer.state.log_history for k, v in entry.items()
              if isinstance(v, (int, float)) and k.startswith(("rewards/", "logps/", "loss"))}
    training.finish(trainer, tokenizer, run, training.summary_of(result, resume, **logged))
    return 0

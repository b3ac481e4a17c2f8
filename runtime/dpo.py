"""Task `dpo`: preference optimisation with TRL's DPOTrainer on DeepSpeed.

The pairs file has prompt / chosen / rejected (the spec's field names). The reference
model is named explicitly (a saved path: the model being trained at its start, or
another checkpoint, as SPIN's opponent), or implicit under LoRA (adapters disabled).
Loss types and beta come from the spec; rewards, margins and accuracies are logged to
TensorBoard by TRL under the run's tb/.
"""

from __future__ import annotations

from typing import Any

from runtime import data, training, vision
from runtime.errors import TaskInputError
from runtime.preemption import EXIT_REQUEUE
from runtime.sft import lora_config


def clip_prompt(tokenizer: Any, prompt: str, limit: int | None) -> str:
    """The prompt's last `limit` tokens: TRL 1.x dropped `max_prompt_length`, and a long
    prompt should lose its beginning (the question comes last), not the answers."""
    if not limit:
        return prompt
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return prompt if len(ids) <= limit else str(tokenizer.decode(ids[-limit:]))


def pairs_dataset(ds: Any, fields: dict[str, Any], chat: bool, path: str, image: str | None = None,
                  default_prompt: str = "", clip: Any = None) -> Any:
    p, c, r = (fields.get("prompt_field", "prompt"), fields.get("chosen_field", "chosen"),
               fields.get("rejected_field", "rejected"))
    needed = [c, r] + ([image] if image else [p])
    ds = data.require_columns(ds, needed, path, "data.prompt_field / data.chosen_field / data.rejected_field"
                              + (" / data.image_field" if image else ""), empty="refuse")
    if image is not None:
        return vision.with_images(ds, image, path, lambda row: {
            "prompt": vision.user_turn(str(row[p]) if p in row else default_prompt, True),
            "chosen": vision.assistant_turn(str(row[c])), "rejected": vision.assistant_turn(str(row[r]))})

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        prompt = clip(str(row[p])) if clip else str(row[p])
        if chat:
            return {"prompt": [{"role": "user", "content": prompt}],
                    "chosen": [{"role": "assistant", "content": str(row[c])}],
                    "rejected": [{"role": "assistant", "content": str(row[r])}]}
        return {"prompt": prompt, "chosen": str(row[c]), "rejected": str(row[r])}

    return ds.map(convert, remove_columns=ds.column_names)


def run(config: dict[str, Any]) -> int:
    training.prepare_environment(config)
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText
    from trl import DPOConfig, DPOTrainer

    tc = config["task_config"]
    base = config["base_dir"]
    model_path = data.resolve_model(tc["model"]["name_or_path"], base)
    fields = tc.get("fields", {})  # the spec's data section: files and field names
    image = vision.image_field(tc, fields)
    tokenizer = vision.load_processing(
        data.resolve_model(tc["model"].get("tokenizer") or tc["model"]["name_or_path"], base, "model.tokenizer"),
        image is not None)
    pairs = tc.get("pairs") or fields.get("train")
    if not pairs:
        raise TaskInputError("dpo: no preference file (set data.train to a JSONL of prompt/chosen/rejected)")
    pairs_path = str(data.resolve(pairs, base))
    ds = data.load(pairs_path, fields.get("format", "jsonl"), "pairs")
    dpo = tc.get("dpo", {})
    limit = dpo.get("max_prompt_length")
    train = pairs_dataset(ds, fields, getattr(tokenizer, "chat_template", None) is not None, pairs_path, image,
                          (tc.get("vision") or {}).get("prompt", ""),
                          clip=None if image or not limit else lambda text: clip_prompt(tokenizer, text, limit))
    auto = AutoModelForImageTextToText if image else AutoModelForCausalLM
    try:
        args = DPOConfig(**training.arguments(config, {
            "beta": dpo.get("beta", 0.1),
            "loss_type": dpo.get("loss_type", ["sigmoid"]),
            "loss_weights": dpo.get("loss_weights"),
            "label_smoothing": dpo.get("label_smoothing", 0.0),
            "max_length": None if image else config["training"]["max_length"],  # never cut image tokens
        }))
    except ValueError as exc:
        raise TaskInputError(f"dpo settings: {exc}") from None
    peft = lora_config(config.get("peft"))
    reference = tc.get("reference")
    try:
        kwargs = training.model_kwargs(tc["model"])
        model = auto.from_pretrained(model_path, **kwargs)
        ref = None if reference is None else auto.from_pretrained(
            data.resolve_model(reference, base, "reference"), **kwargs)
    except (OSError, ValueError) as exc:
        raise TaskInputError(f"model or reference: cannot load ({exc})") from None
    if ref is None and peft is None:
        raise TaskInputError("dpo: name the reference model (a saved path) or enable peft (LoRA)")
    stop = training.preemption_callback()
    trainer = DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=train, processing_class=tokenizer,
                         peft_config=peft, callbacks=[stop])
    trained = training.train(trainer, stop, "dpo")
    if trained is None:
        return EXIT_REQUEUE
    result, resume = trained
    logged = {k: v for entry in trainer.state.log_history for k, v in entry.items()
              if isinstance(v, (int, float)) and k.startswith(("rewards/", "logps/", "loss"))}
    training.finish(trainer, tokenizer, config, {
        "primary_metric": "train_loss", "resumed_from": resume, **logged,
        **{k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}})
    return 0

"""Task `sft`: supervised fine-tuning with TRL's SFTTrainer on DeepSpeed.

Prompt/completion rows become conversations when the tokenizer has a chat template
(loss on the answer only with `completion_only_loss`), plain text otherwise. LoRA
through peft when the spec enables it. Resumes from the newest checkpoint in
`checkpoints/` (a requeued run continues there); the final model goes to
`checkpoints/final`, its metrics to `outputs/metrics.json`.
"""

from __future__ import annotations

from typing import Any

from runtime import data, training, vision
from runtime.errors import TaskInputError
from runtime.preemption import EXIT_REQUEUE


def rows_to_examples(ds: Any, fields: dict[str, Any], chat: bool, image: str | None = None,
                     data_path: str = "", default_prompt: str = "") -> Any:
    """Rows as TRL prompt/completion examples: conversations when there is a chat
    template, with the image (opened now) for a vision-language model."""
    prompt, completion = fields["prompt_field"], fields["completion_field"]
    if image is not None:
        return vision.with_images(ds, image, data_path, lambda row: {
            "prompt": vision.user_turn(str(row[prompt]) if prompt in row else default_prompt, True),
            "completion": vision.assistant_turn(str(row[completion]))})

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        if chat:
            return {"prompt": [{"role": "user", "content": str(row[prompt])}],
                    "completion": [{"role": "assistant", "content": str(row[completion])}]}
        return {"prompt": str(row[prompt]), "completion": str(row[completion])}

    return ds.map(convert, remove_columns=ds.column_names)


def lora_config(peft: dict[str, Any] | None) -> Any:
    if not peft:
        return None
    from peft import LoraConfig

    return LoraConfig(r=peft["r"], lora_alpha=peft["alpha"], lora_dropout=peft["dropout"],
                      target_modules=peft["target_modules"], modules_to_save=peft["modules_to_save"] or None,
                      task_type="CAUSAL_LM")


def run(config: dict[str, Any]) -> int:
    training.prepare_environment(config)
    from trl import SFTConfig, SFTTrainer

    tc = config["task_config"]
    base = config["base_dir"]
    model_path = data.resolve_model(tc["model"]["name_or_path"], base)
    tokenizer_path = data.resolve_model(tc["model"].get("tokenizer") or tc["model"]["name_or_path"], base,
                                        "model.tokenizer")
    fields = tc.get("fields", {})  # the spec's data section: files and field names
    train_path = data.resolve(tc.get("train_data") or fields.get("train"), base)
    if train_path is None:
        raise TaskInputError("sft: no training data (set data.train)")
    ds = data.load(train_path, fields.get("format", "jsonl"), "data.train")
    vis = tc.get("vision") or {}
    image = vision.image_field(tc, fields)
    names = {"prompt_field": vis.get("prompt_field") or fields.get("prompt_field", "prompt"),
             "completion_field": vis.get("answer_field") or fields.get("completion_field", "completion")}
    needed = [names["completion_field"]] + ([image] if image else [names["prompt_field"]])
    ds = data.require_columns(ds, needed, train_path, "data.prompt_field / data.completion_field / data.image_field")
    if fields.get("max_samples"):
        ds = ds.select(range(min(len(ds), fields["max_samples"])))
    tokenizer = vision.load_processing(str(tokenizer_path), image is not None)
    chat = getattr(tokenizer, "chat_template", None) is not None
    examples = rows_to_examples(ds, names, chat, image, train_path, vis.get("prompt", ""))
    sft = tc.get("sft", {})
    args = SFTConfig(**training.arguments(config, {
        "max_length": None if image else config["training"]["max_length"],  # never cut image tokens
        "completion_only_loss": sft.get("completion_only_loss", True),
        "packing": sft.get("packing", False) and image is None,  # TRL cannot pack images
        "model_init_kwargs": training.model_kwargs(tc["model"]),
    }))
    stop = training.preemption_callback()
    trainer = SFTTrainer(model=model_path, args=args, train_dataset=examples, processing_class=tokenizer,
                         peft_config=lora_config(config.get("peft")), callbacks=[stop])
    trained = training.train(trainer, stop, "sft")
    if trained is None:
        return EXIT_REQUEUE
    result, resume = trained
    training.finish(trainer, tokenizer, config, {
        "primary_metric": "train_loss", "resumed_from": resume,
        **{k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}})
    return 0

"""Task `sft`: supervised fine-tuning with TRL's SFTTrainer on DeepSpeed.

Prompt/completion rows become conversations when the tokenizer has a chat template
(loss on the answer only with `completion_only_loss`), plain text otherwise. LoRA
through peft when the spec enables it. Resumes from the newest checkpoint in
`checkpoints/` (a requeued run continues there); the final model goes to
`checkpoints/final`, its metrics to `outputs/metrics.json`.
"""

from __future__ import annotations

from typing import Any

from runtime.core import data, environment, models, training, vision
from runtime.core.data import Columns
from runtime.core.preemption import EXIT_REQUEUE
from specs.tasks import RunConfig
from specs.tasks.generic import SFTTask


def rows_to_examples(ds: Any, cols: Columns, chat: bool, data_path: str = "") -> Any:
    """Rows as TRL prompt/completion examples: conversations when there is a chat
    template, with the image (opened now) for a vision-language model."""
    prompt, completion = cols.prompt, cols.answer

    def text_of(row: dict[str, Any]) -> str:
        return str(row[prompt]) if prompt and prompt in row else (cols.fixed_prompt or "")

    if cols.image is not None:
        return vision.with_images(ds, cols.image, data_path, lambda row: {
            "prompt": vision.user_turn(text_of(row), True),
            "completion": vision.assistant_turn(str(row[completion]))})

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        if chat:
            return {"prompt": [{"role": "user", "content": text_of(row)}],
                    "completion": [{"role": "assistant", "content": str(row[completion])}]}
        return {"prompt": text_of(row), "completion": str(row[completion])}

    return ds.map(convert, remove_columns=ds.column_names)


def run(run: RunConfig, tc: SFTTask) -> int:
    environment.prepare_training(run)
    from trl import SFTConfig, SFTTrainer

    model_path, tokenizer_path = models.paths(tc.model, run.base_dir)
    ds, train_path = data.load_ref(tc.data, run.base_dir, "data.train")
    cols = data.columns(tc.data, tc.vision)
    ds = data.require_columns(ds, cols.needed(), train_path,
                              "data.prompt_field / data.completion_field / data.image_field")
    tokenizer = models.load_processing(tokenizer_path, cols.image is not None)
    chat = getattr(tokenizer, "chat_template", None) is not None
    examples = rows_to_examples(ds, cols, chat, train_path)
    assert run.training is not None
    args = SFTConfig(**training.arguments(run, {
        "max_length": None if cols.image else run.training.max_length,  # never cut image tokens
        "completion_only_loss": tc.sft.completion_only_loss,
        "packing": tc.sft.packing and cols.image is None,  # TRL cannot pack images
        "model_init_kwargs": models.model_kwargs(tc.model),
    }))
    stop = training.preemption_callback(run)
    trainer = SFTTrainer(model=model_path, args=args, train_dataset=examples, processing_class=tokenizer,
                         peft_config=training.lora_config(run.peft), callbacks=[stop])
    trained = training.train(trainer, stop, "sft")
    if trained is None:
        return EXIT_REQUEUE
    result, resume = trained
    training.finish(trainer, tokenizer, run, training.summary_of(result, resume))
    return 0

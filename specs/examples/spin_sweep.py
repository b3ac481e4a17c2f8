"""A Python spec: SPIN at two model sizes, built with ordinary code.

Python specs are for loops and reuse; they produce the same validated model as YAML.
labspec only runs a Python spec when you name it on the command line.
"""

sizes = {"0.5B": "Qwen/Qwen2.5-0.5B-Instruct", "1.5B": "Qwen/Qwen2.5-1.5B-Instruct"}

experiment = {
    "extends": "spin.yaml",
    "name": "spin-qwen2.5-sizes",
    "kind": "spin",
    "description": "the published SPIN recipe at two model sizes, beta swept",
    "sweep": {
        "zip": [{
            "model.name_or_path": list(sizes.values()),
            "model.num_parameters": list(sizes),
        }],
        "grid": {"spin.beta": [0.1, 0.5]},
    },
}

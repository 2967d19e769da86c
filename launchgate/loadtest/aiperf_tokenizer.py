"""Build an offline tokenizer folder for aiperf: ``PYTHON aiperf_tokenizer.py CORPUS.txt OUT_DIR``.

Runs with the *engine's* interpreter (.venv-aiperf/bin/python), where ``tokenizers`` and
``transformers`` are installed; the main environment never imports this file. aiperf's
``builtin`` tokenizer downloads a tiktoken file on first use and fails offline, so the load
test hands aiperf a local WordLevel tokenizer trained on the golden-set inputs instead. With
``--use-server-token-count`` the token counts in the report come from the server's ``usage``;
this tokenizer only has to load.
"""

from __future__ import annotations

import sys
from pathlib import Path


def build(corpus: Path, out_dir: Path) -> int:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    lines = [ln for ln in corpus.read_text(encoding="utf-8").splitlines() if ln.strip()]
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(lines or ["empty"], trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    # save_pretrained writes tokenizer.json + tokenizer_config.json naming PreTrainedTokenizerFast,
    # which is what AutoTokenizer needs to load a local path without the hub.
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(str(out_dir))
    return tok.get_vocab_size()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: aiperf_tokenizer.py CORPUS.txt OUT_DIR", file=sys.stderr)
        return 2
    size = build(Path(argv[0]), Path(argv[1]))
    print(f"tokenizer with {size} words written to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

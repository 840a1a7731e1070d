"""Bring your own model: the picker's extra choices and the sidebar's upload form.

The model word (URL, cache keys, pipeline) is a zoo id, an architecture ("resnet18") or
"upload:<model hash>[.<data hash>]" (compression.source); uploads stay in this server's cache.
"""
from __future__ import annotations

import logging

import streamlit as st

from compression import loading, models, source
from ui.fmt import literal, short, without_paths
from ui.state import UPLOAD_PLACEHOLDER

log = logging.getLogger("compression_lab.ui")

UPLOAD = UPLOAD_PLACEHOLDER  # the picker's "Upload your own…" entry: not a model word
MAX_MB = loading.MAX_BYTES // 1_000_000  # MB = 10^6 bytes, as every message says


def is_upload(word: str) -> bool:
    return word.startswith("upload:")


def options(current: str) -> list[str]:
    """The picker's choices: the zoo, the architectures, the current upload, and 'Upload your own…'."""
    return [*models.ZOO, *source.ARCHITECTURES, *([current] if is_upload(current) else []), UPLOAD]


def label(word: str) -> str:
    """The picker's text for a choice that is not a zoo id (None for zoo ids)."""
    if word == UPLOAD:
        return "Upload your own…"
    if word in source.ARCHITECTURES:
        return f"{word} · random init: accuracy n/a"
    if is_upload(word):  # short: the picker shows about 30 characters
        try:
            src = source.parse(word)
        except models.ModelError:
            return short(word, 30)
        return f"upload {src.name[:8]}" + (" + data" if src.data else "")
    return word


def caption(word: str) -> str:
    if word == UPLOAD:
        return (f"A torch.export program (.pt2), or a state dict (.pt/.pth/.safetensors) of a named "
                f"architecture; optional test set: .npz (x float, y int) or a .zip of image folders (one per "
                f"class). At most {loading.limit_text()} each; "
                "no code from any file is ever run.")
    if word in source.ARCHITECTURES:
        return (f"torchvision {word} at 3×224×224, randomly initialised (no weights can be downloaded "
                f"here): size, energy and latency are real; accuracy {source.NO_WEIGHTS}.")
    has_data = is_upload(word) and "." in word
    arch = loading.meta(loading.find(word[7:].split(".")[0])).get("arch") if not unavailable(word) else None
    return (f"Your {arch + ' state dict' if arch else 'torch.export program'}, kept on this server under "
            f"its content hash {short(word[7:], 40)}"
            + (_data_note(word.split(".", 1)[1]) if has_data and not unavailable(word) else "")
            + ("" if has_data else f" · accuracy {source.NO_DATA}: add a test set (.npz or image-folder .zip) "
                                   "to measure it"))


def _data_note(data_hash: str) -> str:
    """' · test set pets.zip: 12 images in 3 class folders (3 images skipped: not readable)' for an image
    folder this process has read, ' · test set NAME' otherwise."""
    stored = loading.find(data_hash)
    text = f" · test set {short(loading.display_name(stored), 40)}"
    got = loading.decoded_images(stored.sha256) if stored.path.suffix == ".zip" else None
    if got is None:
        return text
    n, info = got
    return (text + f": {n} images in {len(info.classes)} class folders ({info.describe()})"
            + (f"; {info.skipped}" if info.skipped else ""))


def unavailable(word: str) -> str | None:
    """Why a non-zoo word cannot run here (one short phrase), or None when it can."""
    if word == UPLOAD:
        return "no file is uploaded yet"
    if not is_upload(word):
        return None
    try:
        src = source.parse(word)
        loading.find(src.name)
        if src.data:
            loading.find(src.data)
    except (models.ModelError, loading.FileRejected):
        return ("its uploaded file is not on this server (uploads stay on the server they were "
                "sent to): upload it again")
    return None


def from_link(word: str) -> tuple[str | None, str | None]:
    """A link's model word: (the word to use, None) or (None, one sentence why it is ignored)."""
    if word in models.ZOO or word in source.ARCHITECTURES or word == UPLOAD:
        return word, None
    if not is_upload(word):
        return None, None  # the caller's "unknown model" sentence
    reason = unavailable(word)
    if reason:
        return None, (f"model={short(word, 48)!r} names an upload that is not on this server, "
                      "so the default model is shown")
    return str(source.parse(word)), None


def panel() -> None:
    """The upload form, drawn under the picker while 'Upload your own…' is chosen."""
    ss = st.session_state
    if ss.get("model") != UPLOAD:
        return
    st.file_uploader("Model file", type=["pt2", "pt", "pth", "safetensors"], key="upload_model",
                     help="A torch.export program (torch.export.save, .pt2), or a state dict "
                          "(.pt/.pth read with weights_only=True, or .safetensors) of the architecture "
                          f"picked below. At most {loading.limit_text()}.")
    f = ss.get("upload_model")
    if f is not None and not f.name.lower().endswith(".pt2"):
        st.selectbox("Architecture of the state dict", [*models.ZOO, *source.ARCHITECTURES], key="upload_arch",
                     help="The network the state dict's tensors belong to: a zoo id or a torchvision model.")
    st.file_uploader("Test data (optional .npz or image-folder .zip)", type=["npz", "zip"], key="upload_data",
                     help=".npz: x inputs (float, N × input shape), y integer labels (N). .zip: a torchvision "
                          "ImageFolder layout, one folder of PNG/JPEG images per class (class index = position "
                          "of the folder name in sorted order), read as pixels / 255 with the image's own "
                          "channels; unreadable images are skipped and counted. Without a test set, accuracy "
                          f"is {source.NO_DATA}. Every row is scored; int8 calibration uses a copy of a "
                          "stratified sample of them.")
    d = ss.get("upload_data")
    if d is not None and d.name.lower().endswith(".zip"):
        st.checkbox("Resize images to the model's input", key="upload_resize",
                    help="Bilinear resize of every image to the model's input height × width (as torchvision's "
                         "Resize); without it, every image must already have that size.")
        st.text_input("Normalize (MEAN,STD)", key="upload_normalize", placeholder="e.g. 0.5,0.5",
                      help="Optional: after pixels / 255, (x - MEAN) / STD on every channel, as the model was "
                           "trained (torchvision's Normalize). Empty: no normalization.")
    st.button("Use this model", key="upload_go", type="primary", icon=":material/upload:",
              disabled=f is None, on_click=_use_upload,
              help="Checks the files (no code is run from them) and makes them the sidebar's model.")
    error = ss.pop("_upload_error", None)
    if error:
        st.error(error, icon=":material/error:")


def _use_upload() -> None:
    """Button callback (runs before the script, so it may set the picker): store and select."""
    ss = st.session_state
    f, d = ss.get("upload_model"), ss.get("upload_data")
    if f is None:
        return
    arch = None if f.name.lower().endswith(".pt2") else ss.get("upload_arch", models.DEFAULT_MODEL)
    try:
        for up in (f, d):
            if up is not None:
                loading.check_size(up.size, up.name)
        images = d is not None and d.name.lower().endswith(".zip")
        options = ({"resize": "1" if ss.get("upload_resize") else "",
                    "normalize": str(ss.get("upload_normalize") or "").strip()} if images else None)
        src = source.upload(f.name, arch, content=f.getvalue(),
                            data_file=d.name if d is not None else None,
                            data_content=d.getvalue() if d is not None else None, data_options=options)
    except (loading.FileRejected, models.ModelError, ValueError) as e:
        ss["_upload_error"] = literal(without_paths(str(e).splitlines()[0] if str(e) else type(e).__name__), 300)
        return
    except Exception as e:  # a bug or a file torch chokes on: one sentence, the trace in the log
        log.exception("upload failed")
        ss["_upload_error"] = literal(f"{short(f.name, 60)} could not be read as a model "
                                      f"({type(e).__name__}).", 300)
        return
    ss["model"] = str(src)


def no_accuracy(col, r) -> None:
    """The accuracy card of a report without accuracy: 'n/a' and the reason, not an empty number."""
    why = r.accuracy_note or source.NO_DATA
    col.metric("Accuracy", why.split(" (")[0], help=f"Accuracy is {why}: " + (
        "this architecture is randomly initialised (no trained weights can be downloaded here)."
        if why == source.NO_WEIGHTS else "no test set was uploaded with this model (add a .npz with x and y, "
                                         "or a .zip of image folders).")
        + " Size, energy and latency below are measured on the model as it is.")
    col.caption(why.split("(", 1)[-1].rstrip(")") if "(" in why else why)


def why_no_curves(r) -> str:
    """One line in place of the accuracy curves when there is nothing to measure accuracy on."""
    return (f"No accuracy curves: accuracy is {r.accuracy_note or source.NO_DATA}"
            + (" — these are random weights, so any curve would be noise." if r.accuracy_note == source.NO_WEIGHTS
               else " — upload a test set (.npz or image-folder .zip) with the model to draw them."))


def rows_left_whole(r, config) -> str | None:
    """A sentence naming the layers rows pruning left whole in an upload, or None.

    In an uploaded program a channel group is cut only if the smaller model computes what the
    masked one does (compression.structure); the others keep every row, silently otherwise.
    The classifier (the last layer) always keeps its rows (its outputs are the classes).
    """
    if config.structure != "rows" or config.sparsity <= 0 or len(r.layers) < 2:
        return None
    asked = r.layers[:-1]
    whole = [lr.name for lr in asked if lr.nonzero >= lr.params]
    if not whole:
        return None
    return (f"Rows pruning left {len(whole)} of {len(asked)} layers whole ({', '.join(whole)}): their channel "
            "groups cannot be cut out of this uploaded program without changing what it computes, so only "
            "the other layers lost rows.")

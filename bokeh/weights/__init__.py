"""Model weights: where they come from, and the only code that reads or writes them.

**The resolution order** (stated here once; :func:`bokeh.weights.resolve.resolve` implements
it, :func:`~bokeh.weights.resolve.weights_status` reports it, the README repeats it): a
checkpoint ``NAME`` (``NAME.safetensors`` + ``NAME.json``, see :mod:`bokeh.weights.files`) is
looked for in

1. an explicit path (a ``.safetensors`` file or a folder holding ``NAME.safetensors``): final,
   an error there is never replaced by another source;
2. ``$BOKEH_WEIGHTS_DIR``;
3. the Hugging Face Hub repo ``$BOKEH_HUB_REPO`` at ``$BOKEH_HUB_REVISION`` (default ``main``),
   when it is set: the local HF cache, else a download unless ``HF_HUB_OFFLINE`` is set;
4. the demo weights bundled in ``assets/weights`` (trained on synthetic scenes).

Pickle checkpoints (``.pt``, ``.pth``, ``.ckpt``, ...) are refused wherever they are found.
Models used as published (Depth Anything, through ``transformers``) are ``save_pretrained``
folders instead: ``$BOKEH_DEPTH_ANYTHING_DIR``, else the snapshot of
``$BOKEH_DEPTH_ANYTHING_REPO`` in the HF cache, else one download (never offline).

Modules: :mod:`~bokeh.weights.files` (file checks, configs, hashes; light),
:mod:`~bokeh.weights.hub` (the Hugging Face Hub; light), :mod:`~bokeh.weights.resolve` (the
order above and typed statuses; light), :mod:`~bokeh.weights.checkpoint` (save and load; needs
torch). Example::

    from bokeh.weights.checkpoint import load_model
    model, resolved = load_model("densedepth", build_densedepth)
    print(resolved.description, resolved.sha256)
"""

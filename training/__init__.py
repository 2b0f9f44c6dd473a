"""Training for pix2pix, CycleGAN, BGGAN and DenseDepth (the networks live in ``bokeh.models``).

Commands
--------

Train one method (``--preset full`` = the published sizes, ``demo`` = CPU-sized)::

    python -m training pix2pix    --data EBB_ROOT --dataset ebb   --batch-size 1 --epochs 200
    python -m training cyclegan   --data EBB_ROOT --dataset ebb   --crop 256
    python -m training bggan      --data EBB_ROOT --dataset ebb   --batch-size 4 --perceptual vgg19
    python -m training densedepth --data NYU_ROOT --dataset nyu   --batch-size 4 --crop 0 --epochs 20

    # quick CPU runs on the synthetic set (``python -m bokeh synth --out data/synth-train ...``)
    python -m training pix2pix --data data/synth-train --dataset synth --preset demo \\
        --steps 500 --batch-size 4 --crop 128 --out runs/p2p
    python -m training pix2pix --data data/synth-train --dataset synth --preset demo \\
        --steps 1000 --out runs/p2p --resume          # continue to 1000 steps

    # several GPUs (one process per GPU; --batch-size is per process)
    torchrun --nproc_per_node 4 -m training bggan --data EBB_ROOT --batch-size 4

    # train the four demo presets on synthetic scenes and write assets/weights/
    python -m training.demo [--steps pix2pix=2000 ...] [--methods pix2pix,bggan]

Flags: ``--data DIR``, ``--dataset ebb|synth|nyu`` (default ebb for the GANs, nyu for
DenseDepth), ``--split`` (default train), ``--preset full|demo``, ``--epochs N`` or ``--steps N``
(default: the paper's epochs), ``--batch-size B``, ``--crop 256`` (0 = whole images),
``--scale F`` (resize before cropping, e.g. 0.25 for 1536x1024 EBB! photos), ``--lr``,
``--hp KEY=VALUE`` (any loss weight of the recipe, e.g. ``--hp n_critic=5``), ``--seed S``,
``--out DIR`` (default ``<data dir>/runs/METHOD``), ``--resume``, ``--save-every N`` (epochs),
``--save-every-steps N``, ``--log-every N``, ``--perceptual vgg19|none``, ``--workers N``,
``--device auto|cpu|cuda``, ``--no-amp``, ``--offline`` (never download ImageNet weights),
``--push-to-hub REPO``.

What a run writes into ``--out``
--------------------------------

- ``<network>.safetensors`` + ``<network>.json`` for every network it trains (generator and
  discriminator(s)); the JSON holds the config that built it (the preset actually used) and the
  provenance (command, steps, data, seed, time, hyper-parameters). The inference network's
  checkpoint is named after its registry entry (``pix2pix-unet``, ``cyclegan-resnet``,
  ``bggan-glassnet``, ``densedepth``), so pointing ``BOKEH_WEIGHTS_DIR`` at ``--out`` makes the app
  use it. CycleGAN's inverse generator and second discriminator are
  ``cyclegan-resnet-inverse`` and ``cyclegan-patchgan-sharp``.
- ``train_state.safetensors`` + ``train_state.json``: weights, optimizer moments, step counters,
  RNG states and image pools for ``--resume`` (no pickle anywhere).
- ``metrics.json``: mean losses every ``--log-every`` steps.

``--push-to-hub REPO`` uploads the checkpoints and metrics (not the resume state) with
``huggingface_hub``'s ``upload_folder`` after training; log in first (``huggingface-cli login``).

Modules
-------

- :mod:`training.loop`: device, seeding, mixed precision, DistributedDataParallel, checkpoints,
  resume, progress bars (:func:`training.loop.train`).
- :mod:`training.recipes`: one module per method: models, optimizers, ``train_step``.
- :mod:`training.losses`: GAN losses, WGAN-GP, SSIM, image gradients, VGG19 perceptual,
  DenseDepth loss.
- :mod:`training.data`: paired / unpaired crops and depth targets.
- :mod:`training.checkpoint`: the resumable training state and the Hub upload.
- :mod:`training.demo`: the demo weights shipped in ``assets/weights``.
"""

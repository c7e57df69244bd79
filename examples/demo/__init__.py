"""The DDSP demo: train a small solo-violin model on CPU and resynthesize held-out audio.

    python -m examples.demo --output_dir demo_output [--train_steps 800] [--batch_size 4]

(`make demo`). Five stages, all writing to the output directory:

0. Timbre transfer (`examples/demo/transfer.py`, `--no_transfer` skips it): the shipped sung
   melody (`data/voice`, never trained on) played on every pretrained instrument of the package
   with the default auto-adjust: `transfer/<instrument>.wav` and `.png` (note mask, loudness
   and f0 before and after adjustment, spectrograms), and the stage times.
1. Synthesis with `ddsp.core` alone (a few seconds): `harmonic.wav` (a harmonic tone gliding
   from 220 to 440 Hz with vibrato and a darkening spectrum), `filtered_noise.wav` (noise
   through a sweeping band-pass), `reverb.wav` (the two mixed and convolved with a 1 s
   decaying noise impulse response) and `spectrograms.png`.
2. Data: the shipped solo-violin dataset (`data/violin`, 3.4 minutes of FLAC) prepared by the
   `ddsp_prepare_tfrecord` Beam pipeline into `violin/` (TFRecord shards, a train and an eval
   split, f0 and confidence from CREPE, A-weighted loudness, statistics as JSON). A manifest
   (`violin/demo_manifest.json`: SHA-256 of every input file and the settings) lets a second
   run reuse the records when nothing changed.
3. Training: an `Autoencoder` configured by `models/solo_instrument.gin` with the decoder of
   the paper's `tiny_instrument.gin` (GRU 256, no FC layers around it; 232 k parameters, plus
   the 48000-tap reverb), read by `data.TFRecordProvider` and trained by `trainers.Trainer`
   and `train_util.train` (progress line with steps/s, loss and time left; checkpoints,
   summaries and the operative gin config in `train/`). A second run resumes from the newest
   checkpoint and trains up to `--train_steps` (none left: it only evaluates); a changed
   model, seed or dataset, or `--restart`, starts again from scratch.
4. Held-out resynthesis: consecutive non-overlapping 4-s examples of the eval split (a chunk
   of a tune never trained on) are resynthesized by the untrained (same seed) and the
   trained model. Written: `held_out_original.wav`, `held_out_resynthesis.wav`,
   `held_out_untrained.wav`, `held_out_spectrograms.png` (the three spectrograms) and
   `metrics.json`, also printed as a table: the spectral loss of the training objective,
   loudness L1 (dB), CREPE f0 L1 (MIDI semitones, frames where the original's confidence is
   >= 0.85) and the outlier ratio (`ddsp.training.metrics`, API of the original's F0LdEvaluator),
   plus the share of those frames where the resynthesis is confidently pitched too. The
   synthesizer plays the dataset's f0, so even the untrained model follows the melody (f0 L1
   ~0.1 semitone, clean harmonics); what training learns is the loudness envelope and level,
   the timbre (noise, reverb) and a pitch CREPE is confident about.

   Under the table, one line gives the verdict (also in `metrics.json`): "OK: ..." when the
   trained model beats the untrained one on the held-out clip, "FAILED: ..." when its held-out
   audio is not finite, its spectral loss is not the lower one, or its share of frames within
   50 cents is more than 0.05 below the untrained model's; then the demo exits with status 1.

A training step whose loss or gradient is NaN or inf is not applied and stops the demo
(exit status 1) with one line naming the step and the newest checkpoint left, which holds
the last finite state saved; a second run resumes from it.

Stages 2-4 need the `data_preparation` and `crepe` extras; `--no_dataset` runs stage 1 only,
`--no_train` stops after stage 2.
"""

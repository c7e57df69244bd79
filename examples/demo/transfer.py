"""Stage 0 of the demo: timbre transfer of a sung melody on every pretrained instrument.

The shipped singing voice (data/voice, O'Neill's no. 188 sung by Festival; not used in any
training) has its f0 (CREPE full) and loudness taken once, then each pretrained instrument
plays it with the default auto-adjust (`timbre_transfer.transfer`): `transfer/<name>.wav` at
the voice's rate and `transfer/<name>.png` (note mask, loudness and f0 before and after
adjustment, spectrograms), with the stage times printed as the original demo did.
"""

import os
import time

from ddsp import audio_io
from ddsp.training import instrument, model_dir, timbre_transfer

VOICE = os.path.join('data', 'voice', 'londonderry_air_sung.flac')
STAGES = ('features', 'restore', 'prediction')


def run_transfer(output_dir, voice_path=VOICE):
    """Writes `<output_dir>/transfer/<instrument>.{wav,png}`; `{instrument: wav path}`."""
    names = model_dir.available_models()
    if not names:
        print('transfer: no pretrained instruments installed; skipped')
        return {}
    audio, rate, _ = audio_io.read_audio(voice_path)
    out_dir = os.path.join(output_dir, 'transfer')
    os.makedirs(out_dir, exist_ok=True)
    audio_io.write_wav(os.path.join(out_dir, 'voice.wav'), audio, rate)
    print(f'transfer: {voice_path} ({len(audio) / rate:.1f} s) on {", ".join(names)}')
    paths, features = {}, {}
    for name in names:
        start = time.perf_counter()
        model = instrument.load_model(name)
        restore_s = time.perf_counter() - start
        # f0 is taken once for all the models that share sample and frame rates (all of the
        # pretrained ones: 16 kHz, 50 frames/s).
        rates = (model.sample_rate, model.frame_rate)
        result = timbre_transfer.transfer(audio, rate, model, features=features.get(rates))
        result.timings['restore'] = restore_s
        features[rates] = result.features
        paths[name] = os.path.join(out_dir, f'{name}.wav')
        audio_io.write_wav(paths[name], result.audio, result.sample_rate)
        timbre_transfer.plot_transfer(result, os.path.join(out_dir, f'{name}.png'))
        times = '  '.join(f'{k} {result.timings[k]:.2f} s' for k in STAGES)
        print(f'  {paths[name]}: {times}')
    return paths

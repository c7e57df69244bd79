"""Rendering recipe for the pretrained instruments' audio (see README.md in this directory).

Modules:
    midi_render: tune loading from the music21 corpus, MIDI writing, FluidSynth, ground truth
        (shared with tests/data/render_instruments.py).
    expression: the recipe's performance (timing, articulation, rests, vibrato, dynamics).
    tunes: the reserved evaluation tunes and the training tune selection (writes tunes.json).
    render: the command line that renders training and evaluation audio.
    check: the audio check (CREPE against the ground truth, vibrato, peak, silence).
    sing: the sung melody of data/voice/ (Festival singing mode).
"""

"""Small copies of the official layouts of the sound-event, vocal, surveillance, action and scene
tasks, written from synthesized audio.

Each builder writes one task's layout under ``root`` exactly as the official archive lays it out
(file names, metadata columns, header or none, quoting, line endings, folders) and returns a
``Layout``: the folder to pass as ``--data TASK=PATH``, the class list the task should read, and
the labels of every clip that should be evaluated. ``BUILDERS`` maps task names to builders, for
reuse by other tests (e.g. a data-check test).

Audio is short (1-2 s) and at low rates where the real data allows it, to keep tests fast.
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from clapbench.audio.synth import DEMO_CLASSES, synth_sound


@dataclass
class Layout:
    data: Path  # what --data TASK=PATH points at
    classes: list[str]  # the task's class list, in index order
    labels: dict[str, tuple[str, ...]]  # clip path relative to the dataset root -> its class names
    root: Path | None = None  # the dataset root the reader resolves (data, or the archive folder in it)
    extra: dict = field(default_factory=dict)  # layout-specific facts (missing clips, ...)

    def __post_init__(self):
        self.root = self.root or self.data


def write_audio(path: Path, kind_index: int, rng: np.random.Generator, seconds: float = 1.0, sample_rate: int = 16000, channels: int = 1, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wave = synth_sound(DEMO_CLASSES[kind_index % len(DEMO_CLASSES)], seconds, sample_rate, rng)
    data = np.stack([wave, wave[::-1]], axis=1) if channels == 2 else wave
    sf.write(path, data, sample_rate, format=fmt or path.suffix.lstrip(".").upper())


def write_csv(path: Path, rows: list[list], header: list[str] | None = None, delimiter: str = ",", lineterminator: str = "\r\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator=lineterminator)
        if header:
            writer.writerow(header)
        writer.writerows(rows)


# --- FSD50K --------------------------------------------------------------------------------------

# FSD50K.ground_truth/vocabulary.csv: the 200 class names in index order (DATASETS.md §2).
FSD50K_CLASSES = """Accelerating_and_revving_and_vroom Accordion Acoustic_guitar Aircraft Alarm Animal Applause Bark
Bass_drum Bass_guitar Bathtub_(filling_or_washing) Bell Bicycle Bicycle_bell Bird Bird_vocalization_and_bird_call_and_bird_song
Boat_and_Water_vehicle Boiling Boom Bowed_string_instrument Brass_instrument Breathing Burping_and_eructation Bus Buzz Camera
Car Car_passing_by Cat Chatter Cheering Chewing_and_mastication Chicken_and_rooster Child_speech_and_kid_speaking Chime
Chink_and_clink Chirp_and_tweet Chuckle_and_chortle Church_bell Clapping Clock Coin_(dropping) Computer_keyboard Conversation
Cough Cowbell Crack Crackle Crash_cymbal Cricket Crow Crowd Crumpling_and_crinkling Crushing Crying_and_sobbing
Cupboard_open_or_close Cutlery_and_silverware Cymbal Dishes_and_pots_and_pans Dog Domestic_animals_and_pets
Domestic_sounds_and_home_sounds Door Doorbell Drawer_open_or_close Drill Drip Drum Drum_kit Electric_guitar Engine
Engine_starting Explosion Fart Female_singing Female_speech_and_woman_speaking Fill_(with_liquid) Finger_snapping Fire
Fireworks Fixed-wing_aircraft_and_airplane Fowl Frog Frying_(food) Gasp Giggle Glass Glockenspiel Gong Growling Guitar
Gull_and_seagull Gunshot_and_gunfire Gurgling Hammer Hands Harmonica Harp Hi-hat Hiss Human_group_actions Human_voice Idling
Insect Keyboard_(musical) Keys_jangling Knock Laughter Liquid Livestock_and_farm_animals_and_working_animals Male_singing
Male_speech_and_man_speaking Mallet_percussion Marimba_and_xylophone Mechanical_fan Mechanisms Meow Microwave_oven
Motor_vehicle_(road) Motorcycle Music Musical_instrument Ocean Organ Packing_tape_and_duct_tape Percussion Piano
Plucked_string_instrument Pour Power_tool Printer Purr Race_car_and_auto_racing Rail_transport Rain Raindrop Ratchet_and_pawl
Rattle Rattle_(instrument) Respiratory_sounds Ringtone Run Sawing Scissors Scratching_(performance_technique) Screaming
Screech Shatter Shout Sigh Singing Sink_(filling_or_washing) Siren Skateboard Slam Sliding_door Snare_drum Sneeze Speech
Speech_synthesizer Splash_and_splatter Squeak Stream Strum Subway_and_metro_and_underground Tabla Tambourine Tap Tearing
Telephone Thump_and_thud Thunder Thunderstorm Tick Tick-tock Toilet_flush Tools Traffic_noise_and_roadway_noise Train
Trickle_and_dribble Truck Trumpet Typewriter Typing Vehicle Vehicle_horn_and_car_horn_and_honking Walk_and_footsteps Water
Water_tap_and_faucet Waves_and_surf Whispering Whoosh_and_swoosh_and_swish Wild_animals Wind Wind_chime
Wind_instrument_and_woodwind_instrument Wood Writing Yell Zipper_(clothing)""".split()

FSD50K_EVAL = {  # fname -> smeared labels, as eval.csv writes them
    "37199": ["Electric_guitar", "Guitar", "Plucked_string_instrument", "Musical_instrument", "Music"],
    "100": ["Bathtub_(filling_or_washing)", "Water", "Domestic_sounds_and_home_sounds"],
    "2251": ["Gunshot_and_gunfire", "Explosion"],
    "38": ["Bark", "Dog", "Domestic_animals_and_pets", "Animal"],
    "401544": ["Water", "Liquid"],
    "9021": ["Music"],
    "64760": ["Dog", "Animal"],
    "812": ["Accelerating_and_revving_and_vroom", "Engine", "Vehicle"],
}


def _mid(name: str) -> str:
    return f"/m/{zlib.crc32(name.encode()) % 10**6:06d}"  # placeholder mids; the reader does not use them


def build_fsd50k(root: Path, seed: int = 0) -> Layout:
    rng = np.random.default_rng(seed)
    gt = root / "FSD50K.ground_truth"
    write_csv(gt / "vocabulary.csv", [[i, name, _mid(name)] for i, name in enumerate(FSD50K_CLASSES)], lineterminator="\n")
    eval_rows = [[fname, ",".join(labels), ",".join(_mid(x) for x in labels)] for fname, labels in FSD50K_EVAL.items()]
    write_csv(gt / "eval.csv", eval_rows, header=["fname", "labels", "mids"], lineterminator="\n")
    write_csv(gt / "dev.csv", [["64", "Dog,Animal", "/m/0bt9lr,/m/0jbk", "train"]], header=["fname", "labels", "mids", "split"], lineterminator="\n")
    for k, fname in enumerate(FSD50K_EVAL):
        write_audio(root / "FSD50K.eval_audio" / f"{fname}.wav", k, rng, seconds=1.0 + 0.5 * (k % 2), sample_rate=44100 if k == 0 else 16000)
    write_audio(root / "FSD50K.dev_audio" / "64.wav", 0, rng)  # dev audio beside it is not read
    labels = {f"FSD50K.eval_audio/{f}.wav": tuple(v) for f, v in FSD50K_EVAL.items()}
    return Layout(root, list(FSD50K_CLASSES), labels)


# --- UrbanSound8K --------------------------------------------------------------------------------

US8K_CLASSES = ["air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling", "engine_idling", "gun_shot", "jackhammer", "siren", "street_music"]


def build_us8k(root: Path, seed: int = 0) -> Layout:
    """``UrbanSound8K/`` inside ``root``: metadata/UrbanSound8K.csv and audio/fold1..fold10/."""
    rng = np.random.default_rng(seed)
    base = root / "UrbanSound8K"
    rows, labels = [], {}
    clips = [(100032, 3, 1), (100263, 2, 5), (100648, 1, 10), (101281, 8, 3), (102305, 6, 1), (103074, 7, 2), (104817, 4, 7), (105029, 0, 9), (106015, 9, 4), (107228, 5, 6)]
    rates = [44100, 48000, 22050, 16000, 8000, 11025, 96000, 24000, 32000, 44100]
    for k, (fsid, class_id, fold) in enumerate(clips):
        name = f"{fsid}-{class_id}-0-{k}.wav"
        # original rates, channel counts and lengths vary in the real archive
        write_audio(base / "audio" / f"fold{fold}" / name, class_id, rng, seconds=0.5 + 0.25 * (k % 3), sample_rate=rates[k], channels=1 + k % 2)
        rows.append([name, fsid, "0.0", "0.5", 1 + k % 2, fold, class_id, US8K_CLASSES[class_id]])
        labels[f"audio/fold{fold}/{name}"] = (US8K_CLASSES[class_id],)
    (base / "audio" / "fold8").mkdir(parents=True, exist_ok=True)
    write_csv(base / "metadata" / "UrbanSound8K.csv", rows, header=["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"], lineterminator="\n")
    (base / "UrbanSound8K_README.txt").write_text("UrbanSound8K\n")
    return Layout(root, list(US8K_CLASSES), labels, root=base)


# --- DCASE 2017 Task 4 ---------------------------------------------------------------------------

DCASE17_CLASSES = [
    "Train horn", "Air horn, truck horn", "Car alarm", "Reversing beeps", "Bicycle", "Skateboard", "Ambulance (siren)",
    "Fire engine, fire truck (siren)", "Civil defense siren", "Police car (siren)", "Screaming", "Car", "Car passing by",
    "Bus", "Truck", "Motorcycle", "Train",
]
DCASE17_ROWS = [  # groundtruth_weak_label_evaluation_set.csv, one row per (clip, label), grouped by label
    ("-JMT0mK0Dbg", "30.000", "40.000", "Train horn"),
    ("YilfKdY7w6Y", "60.000", "70.000", "Train horn"),  # an id that itself starts with Y
    ("YilfKdY7w6Y", "60.000", "70.000", "Air horn, truck horn"),
    ("3FWHjjZGT9U", "80.000", "90.000", "Car alarm"),
    ("9NPKQDaNCRk", "0.000", "6.000", "Air horn, truck horn"),
    ("-2sE5CH8Wb8", "30.000", "40.000", "Reversing beeps"),
    ("0x82_HySIVU", "30.000", "40.000", "Bicycle"),
    ("0x82_HySIVU", "30.000", "40.000", "Car"),
]


def build_dcase17_task4(root: Path, seed: int = 0) -> Layout:
    rng = np.random.default_rng(seed)
    rows = [[f"{y}_{s}_{e}.wav", s, e, label] for y, s, e, label in DCASE17_ROWS]
    # the official file: tab-separated, no header, CRLF line ends
    write_csv(root / "groundtruth_release" / "groundtruth_weak_label_evaluation_set.csv", rows, delimiter="\t", lineterminator="\r\n")
    labels: dict[str, tuple[str, ...]] = {}
    for k, (y, s, e, label) in enumerate(DCASE17_ROWS):
        rel = f"evaluation_set_formatted_audio_segments/Y{y}_{s}_{e}.wav"
        if rel not in labels:
            write_audio(root / rel, k, rng, seconds=1.0, sample_rate=16000)
        labels[rel] = labels.get(rel, ()) + (label,)
    return Layout(root, list(DCASE17_CLASSES), labels)


# --- AudioSet ------------------------------------------------------------------------------------

AUDIOSET_CLASSES = [  # class_labels_indices.csv rows: index, mid, display_name
    ("/m/09x0r", "Speech"),
    ("/m/05zppz", "Male speech, man speaking"),
    ("/m/02zsn", "Female speech, woman speaking"),
    ("/m/0ytgt", "Child speech, kid speaking"),
    ("/m/04rlf", "Music"),
    ("/m/0jbk", "Animal"),
    ("/m/068hy", "Domestic animals, pets"),
    ("/m/0bt9lr", "Dog"),
    ("/m/07q6cd_", "Squeak"),
]
AUDIOSET_SEGMENTS = [  # YTID, start, end, mids; how the local copy holds it
    ("--4gqARaEJE", "0.000", "10.000", ["/m/068hy", "/m/07q6cd_", "/m/0bt9lr", "/m/0jbk"], "Y.wav"),
    ("--BfvyPmVMo", "20.000", "30.000", ["/m/09x0r", "/m/05zppz"], "Y.wav"),
    ("-0DdlOuIFUI", "50.000", "60.000", ["/m/04rlf"], "Y.flac"),
    ("0Bx_P2N4wqo", "30.000", "40.000", ["/m/09x0r", "/m/02zsn"], "Y.wav"),
    ("1dkeeWpKKFw", "10.000", "20.000", ["/m/09x0r", "/m/0ytgt"], "Y.wav"),
    ("2ZjJpLMvvLI", "30.000", "40.000", ["/m/0bt9lr", "/m/0jbk"], "Y.wav"),
    ("3vN1Lxk_JJQ", "0.000", "10.000", ["/m/04rlf", "/m/09x0r"], "missing"),
    ("4rq6tJxN2dM", "70.000", "80.000", ["/m/0jbk"], "mp4"),
]


def build_audioset(root: Path, seed: int = 0) -> Layout:
    """The PANNs layout: metadata/{eval_segments.csv,class_labels_indices.csv}, audios/eval_segments/Y<id>.wav;
    one segment never downloaded and one kept only as video."""
    rng = np.random.default_rng(seed)
    meta = root / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Segments csv created Sun Mar  5 10:54:25 2017",
        f"# num_ytids={len(AUDIOSET_SEGMENTS)}, num_segs={len(AUDIOSET_SEGMENTS)}, num_unique_labels={len(AUDIOSET_CLASSES)}, num_positive_labels=18",
        "# YTID, start_seconds, end_seconds, positive_labels",
    ]
    lines += [f'{y}, {s}, {e}, "{",".join(mids)}"' for y, s, e, mids, _ in AUDIOSET_SEGMENTS]
    (meta / "eval_segments.csv").write_text("\n".join(lines) + "\n")
    with open(meta / "class_labels_indices.csv", "w", newline="") as fh:
        fh.write("index,mid,display_name\n")
        for i, (mid, name) in enumerate(AUDIOSET_CLASSES):
            fh.write(f'{i},{mid},"{name}"\n')  # the official file quotes every display name
    names = dict(AUDIOSET_CLASSES)
    labels: dict[str, tuple[str, ...]] = {}
    folder = root / "audios" / "eval_segments"
    for k, (y, _, _, mids, kind) in enumerate(AUDIOSET_SEGMENTS):
        if kind == "missing":
            continue
        if kind == "mp4":
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"Y{y}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")  # a video soundfile cannot read
            continue
        ext = kind.split(".")[1]
        write_audio(folder / f"Y{y}.{ext}", k, rng, seconds=1.0, sample_rate=16000)
        labels[f"audios/eval_segments/Y{y}.{ext}"] = tuple(names[m] for m in mids)
    return Layout(root, [n for _, n in AUDIOSET_CLASSES], labels, extra={"n_listed": len(AUDIOSET_SEGMENTS), "n_missing": 2, "n_video": 1})


# --- VGGSound ------------------------------------------------------------------------------------

VGGSOUND_ROWS = [  # vggsound.csv: youtube_id,start_seconds,label,split (no header)
    ("---g-f_I2yQ", 1, "people marching", "test", "wav"),
    ("--0PQM4-hqg", 30, "waterfall burbling", "train", "wav"),
    ("--56QUhyDQM", 185, "playing tennis", "test", "flac"),
    ("-0BIyqJj9ZU", 30, "dog barking", "test", "wav"),
    ("-1x3Vd6LRk0", 16, "people marching", "test", "missing"),
    ("0A0Ws0bJp8Y", 0, "dog barking", "test", "mp4"),
    ("0ubPDjvHxQw", 20, "playing tennis", "test", "wav"),
    ("1E5HXQu2jSs", 110, "church bell ringing", "train", "wav"),
    ("2Hs4cW8rMVQ", 40, "cattle, bovinae cowbell", "test", "wav"),  # a label with a comma: quoted in the csv
]


def build_vggsound(root: Path, seed: int = 0) -> Layout:
    rng = np.random.default_rng(seed)
    write_csv(root / "vggsound.csv", [[y, t, label, split] for y, t, label, split, _ in VGGSOUND_ROWS], lineterminator="\n")
    labels: dict[str, tuple[str, ...]] = {}
    for k, (y, t, label, split, kind) in enumerate(VGGSOUND_ROWS):
        stem = f"{y}_{t:06d}"
        if kind == "mp4":
            (root / "test").mkdir(parents=True, exist_ok=True)
            (root / "test" / f"{stem}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
        elif kind != "missing":
            write_audio(root / "test" / f"{stem}.{kind}", k, rng, seconds=1.0, sample_rate=16000)
            if split == "test":
                labels[f"test/{stem}.{kind}"] = (label,)
    classes = sorted({label for _, _, label, _, _ in VGGSOUND_ROWS})  # every row's label, train ones too
    return Layout(root, classes, labels, extra={"n_listed": 7, "n_missing": 2, "n_video": 1})


# --- VocalSound ----------------------------------------------------------------------------------

VOCALSOUND_CLASSES = ["laughter", "sigh", "cough", "throatclearing", "sneeze", "sniff"]
VOCALSOUND_MIDS = {"laughter": "/m/01j3sz", "sigh": "/m/07plz5l", "cough": "/m/01b_21", "throatclearing": "/m/0dl9sf8", "sneeze": "/m/01hsr_", "sniff": "/m/07ppn3j"}


def build_vocalsound(root: Path, seed: int = 0) -> Layout:
    """``vs_release_16k/`` inside ``root``: audio_16k/, datafiles/{tr,val,te}.json, class_labels_indices_vs.csv."""
    rng = np.random.default_rng(seed)
    base = root / "vs_release_16k"
    test_files = [f"f0003_0_{c}.wav" for c in VOCALSOUND_CLASSES] + ["m0417_0_cough.wav", "m0417_0_sniff.wav"]
    train_files = ["f0101_0_laughter.wav", "m0200_1_sigh.wav"]
    for k, name in enumerate(test_files + train_files):
        write_audio(base / "audio_16k" / name, k, rng, seconds=1.0, sample_rate=16000)
    authors_dir = "/data/sls/scratch/yuangong/vocalsound/data/audio_16k"  # te.json keeps the authors' paths

    def datafile(names: list[str]) -> dict:
        return {"data": [{"wav": f"{authors_dir}/{n}", "labels": VOCALSOUND_MIDS[n.rsplit("_", 1)[1][:-4]]} for n in names]}

    (base / "datafiles" / "subtest").mkdir(parents=True, exist_ok=True)
    (base / "datafiles" / "te.json").write_text(json.dumps(datafile(test_files), indent=1))
    (base / "datafiles" / "tr.json").write_text(json.dumps(datafile(train_files), indent=1))
    (base / "datafiles" / "val.json").write_text(json.dumps({"data": []}))
    write_csv(base / "class_labels_indices_vs.csv", [[i, VOCALSOUND_MIDS[c], c.capitalize()] for i, c in enumerate(VOCALSOUND_CLASSES)], header=["index", "mid", "display_name"], lineterminator="\n")
    labels = {f"audio_16k/{n}": (n.rsplit("_", 1)[1][:-4],) for n in test_files}
    return Layout(root, list(VOCALSOUND_CLASSES), labels, root=base)


# --- SESA ----------------------------------------------------------------------------------------

SESA_CLASSES = ["casual", "gunshot", "explosion", "siren"]


def build_sesa(root: Path, seed: int = 0) -> Layout:
    rng = np.random.default_rng(seed)
    test = ["casual_000.wav", "casual_012.wav", "gunshot_032.wav", "explosion_032.wav", "explosion_007.wav", "siren_001.wav", "siren_040.wav"]
    for k, name in enumerate(test):
        write_audio(root / "test" / name, k, rng, seconds=1.0 + (k % 2), sample_rate=16000)
    for k, name in enumerate(["casual_100.wav", "gunshot_101.wav"]):
        write_audio(root / "train" / name, k, rng, seconds=1.0, sample_rate=16000)
    (root / "SESA.txt").write_text("0 - Casual (not a threat)\n1 - Gunshot\n2 - Explosion\n3 - Siren (also contains alarms)\n")
    return Layout(root, list(SESA_CLASSES), {f"test/{n}": (n.split("_")[0],) for n in test})


# --- ESC50-Actions -------------------------------------------------------------------------------

ACTIONS = ["blowing", "breaking", "calling", "crumpling", "dripping", "exhaling", "exploding", "gasping", "groaning", "pouring",
           "ringing", "rolling", "rotating", "scraping", "singing", "sizzling", "splashing", "tapping", "vibrating", "wailing"]
ACTION_ROWS = [  # filename, fold, target, category, {action: sum of three 0-4 ratings}
    ("1-100032-A-0.wav", 1, 0, "dog", {"calling": 10.0, "wailing": 4.0, "exhaling": 3.0}),
    ("1-17367-A-10.wav", 1, 10, "rain", {"dripping": 12.0, "pouring": 10.0, "splashing": 12.0, "tapping": 3.0}),
    ("2-109505-A-21.wav", 2, 21, "sneezing", {"exhaling": 9.0, "blowing": 6.0}),
    ("3-144827-A-11.wav", 3, 11, "sea_waves", {"splashing": 8.0, "pouring": 5.0}),
    ("4-181286-A-10.wav", 4, 10, "rain", {"dripping": 6.0}),
    ("5-200334-A-1.wav", 5, 1, "rooster", {"calling": 11.0, "singing": 6.0}),
    ("1-101404-A-34.wav", 1, 34, "can_opening", {"breaking": 3.0, "scraping": 2.0}),  # no action reaches the rule
]


def build_esc50_actions(root: Path, seed: int = 0) -> Layout:
    rng = np.random.default_rng(seed)
    rows, labels = [], {}
    for k, (name, fold, target, category, ratings) in enumerate(ACTION_ROWS):
        rows.append([name, fold, target, category] + [f"{ratings.get(a, 0.0):.1f}" for a in ACTIONS])
        write_audio(root / "ESC-50-master" / "audio" / name, k, rng, seconds=1.0, sample_rate=16000)
        labels[f"ESC-50-master/audio/{name}"] = tuple(a for a in ACTIONS if ratings.get(a, 0.0) >= 6)
    write_csv(root / "action_vectors_dataset" / "actionvector_one_per_audiofile_sum.csv", rows, header=["filename", "fold", "target", "category"] + ACTIONS, lineterminator="\n")
    write_csv(root / "ESC-50-master" / "meta" / "esc50.csv", [[r[0], r[1], r[2], r[3], "False", r[0].split("-")[1], "A"] for r in rows],
              header=["filename", "fold", "target", "category", "esc10", "src_file", "take"], lineterminator="\n")
    return Layout(root, list(ACTIONS), labels)


# --- TUT Acoustic Scenes 2017, evaluation ---------------------------------------------------------

TUT2017_CLASSES = ["beach", "bus", "cafe/restaurant", "car", "city_center", "forest_path", "grocery_store", "home", "library",
                   "metro_station", "office", "park", "residential_area", "train", "tram"]


def build_tut2017(root: Path, seed: int = 0) -> Layout:
    """``TUT-acoustic-scenes-2017-evaluation/`` inside ``root``: audio/<n>.wav (binaural) and evaluation_setup/."""
    rng = np.random.default_rng(seed)
    base = root / "TUT-acoustic-scenes-2017-evaluation"
    scenes = ["cafe/restaurant", "library", "beach", "metro_station", "tram", "city_center", "home"]
    evaluate, test, mapping, labels = [], [], [], {}
    for k, scene in enumerate(scenes):
        rel = f"audio/{k + 1}.wav"
        write_audio(base / rel, k, rng, seconds=1.0, sample_rate=16000, channels=2)
        evaluate.append([rel, scene])
        test.append([rel])
        mapping.append([f"audio/b{k:03d}_{10 * k}_{10 * k + 10}.wav", rel])
        labels[rel] = (scene,)
    setup = base / "evaluation_setup"
    write_csv(setup / "evaluate.txt", evaluate, delimiter="\t", lineterminator="\n")
    write_csv(setup / "test.txt", test, delimiter="\t", lineterminator="\n")
    write_csv(setup / "map.txt", mapping, delimiter="\t", lineterminator="\n")
    return Layout(root, list(TUT2017_CLASSES), labels, root=base)


BUILDERS: dict[str, Callable[..., Layout]] = {
    "fsd50k": build_fsd50k,
    "us8k": build_us8k,
    "dcase17-task4": build_dcase17_task4,
    "audioset": build_audioset,
    "vggsound": build_vggsound,
    "vocalsound": build_vocalsound,
    "sesa": build_sesa,
    "esc50-actions": build_esc50_actions,
    "tut2017": build_tut2017,
}

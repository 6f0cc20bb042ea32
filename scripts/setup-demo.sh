#!/usr/bin/env bash
# Install the sound sources of `clapbench demo` from Debian/Ubuntu packages when they are missing:
#   espeak-ng (spoken words), fluidsynth + a General MIDI soundfont (instruments), sox (synthesized signals),
#   sound-theme-freedesktop (recorded sounds).
# Never fails the caller: without apt-get or root the demo falls back to numpy synthesis and says so.
set -u

missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v fluidsynth >/dev/null 2>&1 || missing+=(fluidsynth)
if ! ls /usr/share/sounds/sf2/*.sf2 >/dev/null 2>&1 && ! ls /usr/share/soundfonts/*.sf2 >/dev/null 2>&1; then
    missing+=(timgm6mb-soundfont)
fi
command -v sox >/dev/null 2>&1 || missing+=(sox)
[ -d /usr/share/sounds/freedesktop/stereo ] || missing+=(sound-theme-freedesktop)

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-demo: all demo sound sources are installed"
    exit 0
fi
echo "setup-demo: installing ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "setup-demo: not root and no password-less sudo; the demo will synthesize the missing sounds with numpy" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-demo: no apt-get on this machine; the demo will synthesize the missing sounds with numpy" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -qq; then
    echo "setup-demo: apt-get update failed (no network?); the demo will synthesize the missing sounds with numpy" >&2
    exit 0
fi
# One package at a time: a source that cannot be installed leaves the others usable.
for pkg in "${missing[@]}"; do
    if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null; then
        if [ "$pkg" = timgm6mb-soundfont ] && "${sudo[@]}" apt-get install -y -qq --no-install-recommends fluid-soundfont-gm >/dev/null; then
            continue
        fi
        echo "setup-demo: could not install $pkg; the demo replaces its sounds with numpy synthesis" >&2
    fi
done
echo "setup-demo: done"
exit 0

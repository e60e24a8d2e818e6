# Two entry points: `make run` (the main job) and `make test`. Each creates .venv when missing.
PY      ?= python3.11
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
APT_LIBS := libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libxext6 libsm6 libgl1

.PHONY: run test test-blender-binary deps syslibs clean

$(STAMP): pyproject.toml constraints-dev.txt
	@$(MAKE) --no-print-directory syslibs
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -c constraints-dev.txt -e ".[blender,train,onnx,dev]"
	touch $(STAMP)

deps: $(STAMP)

# The shared libraries `import bpy` links against (Debian/Ubuntu); skipped when present or not root.
syslibs:
	@if ! ldconfig -p | grep -q libXrender.so.1 || ! ldconfig -p | grep -q libXi.so.6 || ! ldconfig -p | grep -q libSM.so.6; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_LIBS); \
	  else echo "bpy needs: $(APT_LIBS) (install them with your package manager)"; fi; \
	fi

run: $(STAMP)
	$(VPY) -m core demo $(if $(VIDEO),--video $(VIDEO)) $(if $(MODEL_DIR),--model-dir $(MODEL_DIR))

test: $(STAMP)
	$(VPY) -m pytest -q -p no:cacheprovider

# The add-on in a real Blender (Debian's blender 4.3, Python 3.13) from a Debian trixie tree that is built once into
# .cache/blender-trixie (root + apt; about 1.5 min) or taken from $$SMPLX_VIDEO_BLENDER_TREE; GUI parts under Xvfb.
test-blender-binary: $(STAMP)
	$(VPY) tests/blender_tree.py ensure
	$(VPY) -m pytest -q -p no:cacheprovider -m blender_binary --durations=0 tests/test_blender_binary.py

clean:
	rm -rf $(VENV) out dist

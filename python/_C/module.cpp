// pufferlib._C: thin nanobind glue. Loads env libraries (dlopen) and exposes their vector
// env buffers to Python as numpy views with no copies. Logic stays in C and Python.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "vecenv_py.h"

#ifdef PUFFER_WITH_TRAINER
void bind_trainer(nb::module_& m);  // python/_C/trainer.cpp
#endif

static int agents_per_env(const std::string& path, const std::vector<std::string>& keys,
                          const std::vector<double>& values) {
    EnvLibrary lib(path);
    std::vector<const char*> key_ptrs;
    for (const auto& k : keys) key_ptrs.push_back(k.c_str());
    PufferVecSpec spec = {1, 1, 1, 0, (int)keys.size(), key_ptrs.data(), values.data(), nullptr};
    char err[PUFFER_ERR_LEN] = {0};
    int n = lib.agents(&spec, err, sizeof(err));
    if (n < 1) throw std::invalid_argument(err);
    return n;
}

static nb::dict info_dict(const PufferEnvInfo* info) {
    nb::dict d;
    d["name"] = std::string(info->name);
    d["obs_size"] = info->obs_size;
    d["obs_dtype"] = info->obs_dtype == PUFFER_OBS_U8 ? "uint8" : "float32";
    d["num_atns"] = info->num_atns;
    d["act_sizes"] = std::vector<int>(info->act_sizes, info->act_sizes + info->num_atns);
    d["render"] = info->render != 0;
    return d;
}

static nb::dict library_info(const std::string& path) {
    EnvLibrary lib(path);
    return info_dict(lib.info());
}

NB_MODULE(_C, m) {
    m.doc() = "PufferLib native module: env libraries and the native trainer";
    m.attr("has_cuda") = (bool)PUFFER_HAS_CUDA;
    m.attr("precision_bytes") = PUFFER_FLOAT_BUILD ? 4 : 2;
#ifdef PUFFER_WITH_TRAINER
    m.attr("has_native_trainer") = true;
    bind_trainer(m);
#else
    m.attr("has_native_trainer") = false;
#endif
    m.def("library_info", &library_info, nb::arg("path"),
          "Metadata (obs size/dtype, action heads) of an env library");

    m.def("agents_per_env", &agents_per_env, nb::arg("path"), nb::arg("keys"), nb::arg("values"),
          "Agents in one env of this library with these [env] kwargs");

    nb::class_<VecEnv>(m, "VecEnv")
        .def(nb::init<const std::string&, int, int, int, uint64_t, const std::vector<std::string>&,
                      const std::vector<double>&, int>(),
             nb::arg("path"), nb::arg("total_agents"), nb::arg("num_buffers"), nb::arg("num_threads"),
             nb::arg("seed"), nb::arg("keys"), nb::arg("values"), nb::arg("gpu_id") = -1)
        .def("reset", &VecEnv::reset, nb::arg("seed"))
        .def("step", &VecEnv::step)
        .def("step_buffer", &VecEnv::step_buffer, nb::arg("buffer"))
        .def("check_actions", &VecEnv::check_actions)
        .def("log", &VecEnv::log, nb::arg("clear") = true)
        .def("render", &VecEnv::render, nb::arg("env_index") = 0)
        .def("save_frame", &VecEnv::save_frame, nb::arg("path"))
        .def("window_closed", &VecEnv::window_closed)
        .def("bench_device", &VecEnv::bench_device, nb::arg("graphs") = 20,
             "Seconds per step of all envs on the GPU alone (device vecs only)")
        .def("capture_key", &VecEnv::capture_key, "F12 (1) or ctrl+F12 (2) pressed at the last render, else 0")
        .def("close", &VecEnv::close)
        .def_prop_ro("observations", [](nb::handle self) { return nb::cast<VecEnv&>(self).observations(self); })
        .def_prop_ro("actions", [](nb::handle self) { return nb::cast<VecEnv&>(self).actions(self); })
        .def_prop_ro("rewards", [](nb::handle self) {
            VecEnv& v = nb::cast<VecEnv&>(self);
            return v.row(v.get()->rewards, self);
        })
        .def_prop_ro("terminals", [](nb::handle self) {
            VecEnv& v = nb::cast<VecEnv&>(self);
            return v.row(v.get()->terminals, self);
        })
        .def_prop_ro("truncations", [](nb::handle self) {
            VecEnv& v = nb::cast<VecEnv&>(self);
            return v.row(v.get()->truncations, self);
        })
        .def_prop_ro("info", [](VecEnv& v) { v.get(); return info_dict(v.info_); })
        .def_prop_ro("total_agents", [](VecEnv& v) { return v.get()->total_agents; })
        .def_prop_ro("num_envs", [](VecEnv& v) { return v.get()->num_envs; })
        .def_prop_ro("num_buffers", [](VecEnv& v) { return v.get()->num_buffers; })
        .def_prop_ro("env_agent_start", [](VecEnv& v) {
            PufferVec* p = v.get();
            return v.ints(p->env_agent_start, p->num_envs + 1);
        })
        .def_prop_ro("buffer_agent_start", [](VecEnv& v) {
            PufferVec* p = v.get();
            return v.ints(p->buffer_agent_start, p->num_buffers + 1);
        })
        .def_prop_ro("closed", [](VecEnv& v) { return v.vec_ == nullptr; })
        .def_prop_ro("on_device", [](VecEnv& v) { return v.get()->device != 0; });
}

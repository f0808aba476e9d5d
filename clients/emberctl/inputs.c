/*
 * Loading a model and mapping -i [NAME=]FILE arguments onto its inputs, shared by the
 * commands that run the engine in-process (run, bench). A plain FILE fills the first input
 * not yet given; NAME= picks one by name; each input may be given once.
 */
#include <string.h>

#include "emberctl.h"

int emberctl_assign_input(const char *cmd, const ember_model *m, const char *arg, int *next,
                          const char **files)
{
    const char *eq = strchr(arg, '=');
    int idx;
    if (eq) {
        char name[256];
        size_t n = (size_t)(eq - arg);
        if (n >= sizeof name)
            return emberctl_usage_error(cmd, "input name too long in '%s'", arg);
        memcpy(name, arg, n);
        name[n] = '\0';
        idx = ember_model_input_index(m, name);
        if (idx < 0)
            return emberctl_usage_error(cmd, "the model has no input named '%s'", name);
        arg = eq + 1;
    } else {
        while (*next < ember_model_ninputs(m) && files[*next])
            (*next)++;
        idx = *next;
        if (idx >= ember_model_ninputs(m))
            return emberctl_usage_error(cmd, "more inputs given than the model's %d",
                                        ember_model_ninputs(m));
    }
    if (files[idx])
        return emberctl_usage_error(cmd, "input '%s' given twice", ember_model_input(m, idx)->name);
    files[idx] = arg;
    return 0;
}

int emberctl_load_model(const char *cmd, const char *path, const char *const *inputs,
                        int ninputs, int cap, ember_model **out, const char **files)
{
    ember_err err = {{0}};
    ember_model *m;
    *out = NULL;
    if (ember_model_load(path, &m, &err) != 0) {
        emberctl_error("%s", err.msg);
        return EMBERCTL_EXIT_USAGE;
    }
    if (ember_model_ninputs(m) > cap || ember_model_noutputs(m) > cap) {
        emberctl_error("%s: more than %d inputs or outputs", path, cap);
        ember_model_free(m);
        return EMBERCTL_EXIT_USAGE;
    }
    int next = 0;
    for (int i = 0; i < ninputs; i++) {
        if (emberctl_assign_input(cmd, m, inputs[i], &next, files) != 0) {
            ember_model_free(m);
            return EMBERCTL_EXIT_USAGE;
        }
    }
    *out = m;
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * libxdp and libbpf, opened at the first use of the device (xdp_lib_load)
 * instead of linked: linked, they (and libelf, libz) were loaded into every
 * process of the preload, whatever its backend. Include after the libxdp
 * and libbpf headers: each call below then goes through the table (the
 * XSK rings' inlines of xsk.h never reach the libraries).
 */
#ifndef DM_XDP_LIB_H
#define DM_XDP_LIB_H

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#define XDP_LIB_SYMS(X)                                                                                    \
    X(bpf_map__set_max_entries) X(bpf_map_delete_elem) X(bpf_map_get_fd_by_id) X(bpf_map_lookup_elem)      \
    X(bpf_map_update_elem) X(bpf_obj_get_info_by_fd) X(bpf_object__close) X(bpf_object__find_map_by_name)  \
    X(bpf_object__open_mem) X(bpf_prog_get_fd_by_id) X(libbpf_set_print) X(libxdp_get_error)               \
    X(libxdp_set_print) X(xdp_multiprog__attach_mode) X(xdp_multiprog__close)                              \
    X(xdp_multiprog__get_from_ifindex) X(xdp_multiprog__is_legacy) X(xdp_multiprog__main_prog)             \
    X(xdp_multiprog__next_prog) X(xdp_program__attach) X(xdp_program__close) X(xdp_program__detach)        \
    X(xdp_program__from_bpf_obj) X(xdp_program__from_id) X(xdp_program__id) X(xdp_program__name)           \
    X(xsk_socket__create) X(xsk_socket__delete) X(xsk_socket__fd) X(xsk_umem__create) X(xsk_umem__delete)

struct xdp_lib {
#define XDP_LIB_PTR(f) __typeof__(f) *f;
    XDP_LIB_SYMS(XDP_LIB_PTR)
#undef XDP_LIB_PTR
};
extern struct xdp_lib xdp_lib;

/* Opens the libraries once: 0, or -ENOSYS when they are not installed
 * (logged). Every entry point of the device calls it first. */
int xdp_lib_load(void);

#define bpf_map__set_max_entries(...) xdp_lib.bpf_map__set_max_entries(__VA_ARGS__)
#define bpf_map_delete_elem(...) xdp_lib.bpf_map_delete_elem(__VA_ARGS__)
#define bpf_map_get_fd_by_id(...) xdp_lib.bpf_map_get_fd_by_id(__VA_ARGS__)
#define bpf_map_lookup_elem(...) xdp_lib.bpf_map_lookup_elem(__VA_ARGS__)
#define bpf_map_update_elem(...) xdp_lib.bpf_map_update_elem(__VA_ARGS__)
#define bpf_obj_get_info_by_fd(...) xdp_lib.bpf_obj_get_info_by_fd(__VA_ARGS__)
#define bpf_object__close(...) xdp_lib.bpf_object__close(__VA_ARGS__)
#define bpf_object__find_map_by_name(...) xdp_lib.bpf_object__find_map_by_name(__VA_ARGS__)
#define bpf_object__open_mem(...) xdp_lib.bpf_object__open_mem(__VA_ARGS__)
#define bpf_prog_get_fd_by_id(...) xdp_lib.bpf_prog_get_fd_by_id(__VA_ARGS__)
#define libbpf_set_print(...) xdp_lib.libbpf_set_print(__VA_ARGS__)
#define libxdp_get_error(...) xdp_lib.libxdp_get_error(__VA_ARGS__)
#define libxdp_set_print(...) xdp_lib.libxdp_set_print(__VA_ARGS__)
#define xdp_multiprog__attach_mode(...) xdp_lib.xdp_multiprog__attach_mode(__VA_ARGS__)
#define xdp_multiprog__close(...) xdp_lib.xdp_multiprog__close(__VA_ARGS__)
#define xdp_multiprog__get_from_ifindex(...) xdp_lib.xdp_multiprog__get_from_ifindex(__VA_ARGS__)
#define xdp_multiprog__is_legacy(...) xdp_lib.xdp_multiprog__is_legacy(__VA_ARGS__)
#define xdp_multiprog__main_prog(...) xdp_lib.xdp_multiprog__main_prog(__VA_ARGS__)
#define xdp_multiprog__next_prog(...) xdp_lib.xdp_multiprog__next_prog(__VA_ARGS__)
#define xdp_program__attach(...) xdp_lib.xdp_program__attach(__VA_ARGS__)
#define xdp_program__close(...) xdp_lib.xdp_program__close(__VA_ARGS__)
#define xdp_program__detach(...) xdp_lib.xdp_program__detach(__VA_ARGS__)
#define xdp_program__from_bpf_obj(...) xdp_lib.xdp_program__from_bpf_obj(__VA_ARGS__)
#define xdp_program__from_id(...) xdp_lib.xdp_program__from_id(__VA_ARGS__)
#define xdp_program__id(...) xdp_lib.xdp_program__id(__VA_ARGS__)
#define xdp_program__name(...) xdp_lib.xdp_program__name(__VA_ARGS__)
#define xsk_socket__create(...) xdp_lib.xsk_socket__create(__VA_ARGS__)
#define xsk_socket__delete(...) xdp_lib.xsk_socket__delete(__VA_ARGS__)
#define xsk_socket__fd(...) xdp_lib.xsk_socket__fd(__VA_ARGS__)
#define xsk_umem__create(...) xdp_lib.xsk_umem__create(__VA_ARGS__)
#define xsk_umem__delete(...) xdp_lib.xsk_umem__delete(__VA_ARGS__)

#endif /* DM_XDP_LIB_H */

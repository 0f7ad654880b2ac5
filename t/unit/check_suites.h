/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* One Check suite per core file; check_main.c runs them all. */
#ifndef CHECK_SUITES_H
#define CHECK_SUITES_H

#include <check.h>

Suite *aop_config_suite(void);
Suite *aop_config_instances_suite(void);
Suite *aop_route_suite(void);
Suite *aop_request_suite(void);
Suite *aop_request_scan_suite(void);
Suite *aop_jtree_suite(void);
Suite *aop_bigbuf_suite(void);
Suite *aop_tpm_suite(void);
Suite *aop_rpm_suite(void);
Suite *aop_resv_suite(void);
Suite *aop_select_suite(void);
Suite *aop_page_suite(void);
Suite *aop_doc_suite(void);
Suite *aop_usage_suite(void);
Suite *aop_cooldown_suite(void);
Suite *aop_circuit_suite(void);
Suite *aop_stats_suite(void);
Suite *aop_store_suite(void);
Suite *aop_layers_suite(void);
Suite *aop_instance_schema_suite(void);
Suite *aop_verify_suite(void);
Suite *aop_sat_suite(void);
Suite *aop_token_suite(void);
Suite *aop_affinity_suite(void);
Suite *aop_slots_suite(void);

#endif

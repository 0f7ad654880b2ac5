/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Runs every unit-test suite of the httpd-free core. */
#include <stdlib.h>

#include <apr_general.h>

#include "check_suites.h"

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    sr = srunner_create(aop_config_suite());
    srunner_add_suite(sr, aop_config_instances_suite());
    srunner_add_suite(sr, aop_route_suite());
    srunner_add_suite(sr, aop_request_suite());
    srunner_add_suite(sr, aop_request_scan_suite());
    srunner_add_suite(sr, aop_jtree_suite());
    srunner_add_suite(sr, aop_bigbuf_suite());
    srunner_add_suite(sr, aop_tpm_suite());
    srunner_add_suite(sr, aop_rpm_suite());
    srunner_add_suite(sr, aop_resv_suite());
    srunner_add_suite(sr, aop_select_suite());
    srunner_add_suite(sr, aop_page_suite());
    srunner_add_suite(sr, aop_doc_suite());
    srunner_add_suite(sr, aop_usage_suite());
    srunner_add_suite(sr, aop_cooldown_suite());
    srunner_add_suite(sr, aop_circuit_suite());
    srunner_add_suite(sr, aop_stats_suite());
    srunner_add_suite(sr, aop_store_suite());
    srunner_add_suite(sr, aop_layers_suite());
    srunner_add_suite(sr, aop_instance_schema_suite());
    srunner_add_suite(sr, aop_verify_suite());
    srunner_add_suite(sr, aop_sat_suite());
    srunner_add_suite(sr, aop_token_suite());
    srunner_add_suite(sr, aop_affinity_suite());
    srunner_add_suite(sr, aop_slots_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

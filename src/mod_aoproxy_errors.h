/* Every error we answer looks like OpenAI's:
 * {"error":{"message":..,"type":..,"param":..,"code":..}} with the right status. */
#ifndef MOD_AOPROXY_ERRORS_H
#define MOD_AOPROXY_ERRORS_H

#include <httpd.h>

/* OpenAI's error type for a status (invalid_request_error, server_error, ...). */
const char *aop_error_type(int status);

/* Writes a complete JSON response (status, headers, body). */
void aop_send_json(request_rec *r, int status, const char *json);

/* Writes a complete OpenAI-shaped error response. */
void aop_send_error(request_rec *r, int status, const char *message, const char *param,
                    const char *code);

#endif

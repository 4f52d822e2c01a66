#!/bin/sh
# Deploys the current release to $CI_ENVIRONMENT_NAME.
set -eu
echo "deploying $CI_COMMIT_SHORT_SHA to $CI_ENVIRONMENT_NAME at $CI_ENVIRONMENT_URL"

package deps_tmp

import (
	_ "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	_ "github.com/stretchr/testify/require"
	_ "github.com/temporalio/ui-server/v2/server"
	_ "go.temporal.io/sdk/client"
	_ "go.temporal.io/sdk/contrib/envconfig"
	_ "go.temporal.io/server/temporal"
	_ "go.temporal.io/server/temporaltest"
	_ "go.temporal.io/server/schema/sqlite"
	_ "go.uber.org/zap"
)

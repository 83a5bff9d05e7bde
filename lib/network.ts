import { Fn } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { VpcConfig } from './config.ts';

export interface BackupNetworkProps {
  /** Import an existing VPC by ids, or create a small one. */
  readonly vpc: VpcConfig;
  /**
   * Retention of the flow log of a created VPC.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly flowLogRetention?: logs.RetentionDays;
}

/**
 * Where the backup tasks run. An imported VPC is referenced by ids only (no lookup, so synth needs
 * no credentials). A created VPC has public subnets only and no NAT gateway: tasks get a public IP
 * and a security group without ingress, which is the cheapest way to reach S3, ECR, Secrets Manager
 * and CloudWatch Logs; a database it should reach must then be reachable from the internet or
 * peered, so importing the database's own VPC is the usual choice.
 */
export class BackupNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  /** Subnet ids the tasks are started in. */
  readonly subnetIds: readonly string[];
  readonly assignPublicIp: boolean;

  constructor(scope: Construct, id: string, props: BackupNetworkProps) {
    super(scope, id);
    if (props.vpc.mode === 'import') {
      if (props.vpc.subnetIds.length === 0) {
        throw new Error(
          `vpc.subnetIds must list at least one subnet, got: ${JSON.stringify(props.vpc.subnetIds)}`,
        );
      }
      // Only the VPC id is used (security groups, cluster); subnets go straight into RunTask. The import
      // API insists on an AZ list, and this token is never rendered because no subnet is looked up.
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: props.vpc.vpcId,
        availabilityZones: [Fn.select(0, Fn.getAzs())],
      });
      this.subnetIds = props.vpc.subnetIds;
      this.assignPublicIp = props.vpc.assignPublicIp;
      return;
    }
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: props.vpc.maxAzs,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      // Nothing runs in the default security group; CDK's custom resource that empties it is not worth a Lambda.
      restrictDefaultSecurityGroup: false,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogGroup', {
          retention: props.flowLogRetention ?? logs.RetentionDays.THREE_MONTHS,
        }),
      ),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    this.vpc = vpc;
    this.subnetIds = vpc.publicSubnets.map((subnet) => subnet.subnetId);
    this.assignPublicIp = true;
  }
}

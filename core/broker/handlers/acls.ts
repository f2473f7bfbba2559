/**
 * DescribeAcls (api key 29), CreateAcls (30) and DeleteAcls (31), versions 0-3, as Kafka's
 * AclApis answers them:
 *
 *   no authorizer (authorizer.class.name empty)   SECURITY_DISABLED, "No Authorizer is configured..."
 *   caller without DESCRIBE (describe) or ALTER
 *   (create, delete) on the cluster               CLUSTER_AUTHORIZATION_FAILED for the whole request
 *   a binding Kafka would not store (CLUSTER not
 *   named kafka-cluster, empty name, ANY/UNKNOWN
 *   type or operation, MATCH/ANY pattern, ...)   INVALID_REQUEST for that creation, with Kafka's message
 *   a filter with UNKNOWN elements                INVALID_REQUEST (describe: the request; delete: that filter)
 *
 * Version notes: v0 has no pattern type (LITERAL; a v0 filter matches LITERAL patterns only);
 * v1 adds it (KIP-290, PREFIXED); v2 is flexible; v3 adds nothing on the wire (the USER
 * resource type, KIP-373's, may appear from it). Creations and deletions go to the metadata
 * store through the authorizer, which reloads at once, so the change is in effect here when
 * answered and on every other broker within its refresh interval.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { CreateAclsRequest } from '../../protocol/generated/CreateAclsRequest';
import type { AclCreationResult, CreateAclsResponse } from '../../protocol/generated/CreateAclsResponse';
import type { DescribeAclsRequest } from '../../protocol/generated/DescribeAclsRequest';
import type { DescribeAclsResource, DescribeAclsResponse } from '../../protocol/generated/DescribeAclsResponse';
import type { DeleteAclsFilter, DeleteAclsRequest } from '../../protocol/generated/DeleteAclsRequest';
import type { DeleteAclsFilterResult, DeleteAclsResponse } from '../../protocol/generated/DeleteAclsResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { toKafkaErrorCode } from '../../common/errors';
import { AclOperation, PatternType, filterProblem, newBindingProblem, type AclBinding, type AclBindingFilter } from '../../security/acl';
import { allowedOnCluster } from '../../security/authorizer';
import type { ApiHandler } from './types';

const NO_AUTHORIZER = 'No Authorizer is configured on the broker';

/** A DescribeAcls / DeleteAcls filter as the model has it (v0 requests carry no pattern type: LITERAL). */
function toFilter(f: Pick<DeleteAclsFilter, 'resourceTypeFilter' | 'resourceNameFilter' | 'patternTypeFilter' | 'principalFilter' | 'hostFilter' | 'operation' | 'permissionType'>): AclBindingFilter {
  return {
    pattern: { resourceType: f.resourceTypeFilter, name: f.resourceNameFilter, patternType: f.patternTypeFilter ?? PatternType.LITERAL },
    entry: { principal: f.principalFilter, host: f.hostFilter, operation: f.operation, permissionType: f.permissionType },
  };
}

/** Bindings grouped by resource pattern, as DescribeAcls answers them. */
function resourcesOf(bindings: readonly AclBinding[]): DescribeAclsResource[] {
  const out: DescribeAclsResource[] = [];
  const byKey = new Map<string, DescribeAclsResource>();
  for (const b of bindings) {
    const k = JSON.stringify([b.pattern.resourceType, b.pattern.patternType, b.pattern.name]);
    let r = byKey.get(k);
    if (r === undefined) {
      r = { resourceType: b.pattern.resourceType, resourceName: b.pattern.name, patternType: b.pattern.patternType, acls: [] };
      byKey.set(k, r);
      out.push(r);
    }
    r.acls.push({ principal: b.entry.principal, host: b.entry.host, operation: b.entry.operation, permissionType: b.entry.permissionType });
  }
  return out;
}

export const describeAclsHandler: ApiHandler<DescribeAclsRequest, DescribeAclsResponse> = {
  apiKey: ApiKey.DescribeAcls,
  minImplemented: 0,

  handle(req, ctx) {
    const authorizer = ctx.broker.authorizer;
    if (!allowedOnCluster(authorizer, ctx.conn, AclOperation.DESCRIBE, { request: 'DescribeAcls' })) return this.errorResponse(req, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, ctx);
    if (authorizer === undefined) return { throttleTimeMs: 0, errorCode: ErrorCode.SECURITY_DISABLED, errorMessage: NO_AUTHORIZER, resources: [] };
    const filter = toFilter(req);
    const problem = filterProblem(filter);
    if (problem !== null) return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: problem, resources: [] };
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, resources: resourcesOf(authorizer.acls(filter)) };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode, errorMessage: null, resources: [] };
  },
};

export const createAclsHandler: ApiHandler<CreateAclsRequest, CreateAclsResponse> = {
  apiKey: ApiKey.CreateAcls,
  minImplemented: 0,

  async handle(req, ctx) {
    const authorizer = ctx.broker.authorizer;
    if (!allowedOnCluster(authorizer, ctx.conn, AclOperation.ALTER, { request: 'CreateAcls' })) return this.errorResponse(req, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, ctx);
    if (authorizer === undefined) return failAll(req, ErrorCode.SECURITY_DISABLED, 'No Authorizer is configured.');
    const results: AclCreationResult[] = [];
    const valid: AclBinding[] = [];
    for (const c of req.creations) {
      const binding: AclBinding = {
        pattern: { resourceType: c.resourceType, name: c.resourceName, patternType: c.resourcePatternType ?? PatternType.LITERAL },
        entry: { principal: c.principal, host: c.host, operation: c.operation, permissionType: c.permissionType },
      };
      const problem = newBindingProblem(binding);
      if (problem !== null) results.push({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: problem });
      else {
        valid.push(binding);
        results.push({ errorCode: ErrorCode.NONE, errorMessage: null });
      }
    }
    if (valid.length > 0) {
      try {
        await authorizer.createAcls(valid);
      } catch (e) {
        ctx.broker.logger.error(`CreateAcls from ${ctx.conn.remote} failed: ${(e as Error).message}`);
        const message = `Failed to store the ACLs: ${(e as Error).message}`;
        for (const r of results) if (r.errorCode === ErrorCode.NONE) Object.assign(r, { errorCode: toKafkaErrorCode(e), errorMessage: message });
      }
    }
    return { throttleTimeMs: 0, results };
  },

  errorResponse(req, errorCode) {
    return failAll(req, errorCode, null);
  },
};

function failAll(req: CreateAclsRequest, errorCode: number, errorMessage: string | null): CreateAclsResponse {
  return { throttleTimeMs: 0, results: req.creations.map(() => ({ errorCode, errorMessage })) };
}

export const deleteAclsHandler: ApiHandler<DeleteAclsRequest, DeleteAclsResponse> = {
  apiKey: ApiKey.DeleteAcls,
  minImplemented: 0,

  async handle(req, ctx) {
    const authorizer = ctx.broker.authorizer;
    if (!allowedOnCluster(authorizer, ctx.conn, AclOperation.ALTER, { request: 'DeleteAcls' })) return this.errorResponse(req, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, ctx);
    if (authorizer === undefined) return deleteFailAll(req, ErrorCode.SECURITY_DISABLED, 'No Authorizer is configured.');
    const filters = req.filters.map(toFilter);
    const problems = filters.map(filterProblem);
    const usable = filters.filter((_, i) => problems[i] === null);
    let removed: AclBinding[][];
    try {
      removed = usable.length === 0 ? [] : await authorizer.deleteAcls(usable);
    } catch (e) {
      ctx.broker.logger.error(`DeleteAcls from ${ctx.conn.remote} failed: ${(e as Error).message}`);
      return deleteFailAll(req, toKafkaErrorCode(e), `Failed to delete the ACLs: ${(e as Error).message}`);
    }
    let next = 0;
    const filterResults: DeleteAclsFilterResult[] = problems.map((problem) => {
      if (problem !== null) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: problem, matchingAcls: [] };
      const bindings = removed[next++];
      return {
        errorCode: ErrorCode.NONE,
        errorMessage: null,
        matchingAcls: bindings.map((b) => ({
          errorCode: ErrorCode.NONE,
          errorMessage: null,
          resourceType: b.pattern.resourceType,
          resourceName: b.pattern.name,
          patternType: b.pattern.patternType,
          principal: b.entry.principal,
          host: b.entry.host,
          operation: b.entry.operation,
          permissionType: b.entry.permissionType,
        })),
      };
    });
    return { throttleTimeMs: 0, filterResults };
  },

  errorResponse(req, errorCode) {
    return deleteFailAll(req, errorCode, null);
  },
};

function deleteFailAll(req: DeleteAclsRequest, errorCode: number, errorMessage: string | null): DeleteAclsResponse {
  return { throttleTimeMs: 0, filterResults: req.filters.map(() => ({ errorCode, errorMessage, matchingAcls: [] })) };
}
